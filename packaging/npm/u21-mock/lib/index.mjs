// The ES module entry: the same API as the CommonJS one.
import api from "./index.js";

export const {
  startU21Mock,
  attachU21Mock,
  findBinary,
  Control,
  U21Mock,
  U21MockError,
  DEFAULT_API_KEY,
  STATUSES,
  FINAL_STATUSES,
  version,
} = api;
export default api;
