// Vitest globalSetup: one fake for the run, started before the first test file and stopped
// after the last. Tests get its details with `inject("u21Mock")` (and attachU21Mock(inject(
// "u21Mock")) for a control client); the same details are in U21_MOCK_URL and U21_MOCK_API_KEY.
//
//   // vitest.config.mjs
//   export default { test: { globalSetup: ["u21-mock/vitest-global-setup"] } };
// With U21_MOCK_URL already set (compose, a CI service), that fake is used and left running.
import { attachU21Mock, startU21Mock } from "./index.mjs";

export default async function setup({ provide }) {
  const fake = process.env.U21_MOCK_URL ? await attachU21Mock() : await startU21Mock(optionsFromEnv());
  provide("u21Mock", fake.toJSON());
  process.env.U21_MOCK_URL = fake.url;
  process.env.U21_MOCK_API_KEY = fake.apiKey;
  return async () => {
    await fake.stop();
  };
}

/** `U21_MOCK_TIMING` may choose the timing (default `manual`). */
function optionsFromEnv() {
  return process.env.U21_MOCK_TIMING ? { timing: process.env.U21_MOCK_TIMING } : {};
}
