"use strict";
// Jest globalSetup: one fake for the run. Jest's workers start after it and inherit its
// environment: U21_MOCK_URL, U21_MOCK_API_KEY and U21_MOCK_S3_URL (attachU21Mock() reads the
// first two). Pair it with "u21-mock/jest-global-teardown".
//
//   // jest.config.js
//   module.exports = { globalSetup: "u21-mock/jest-global-setup", globalTeardown: "u21-mock/jest-global-teardown" };
// With U21_MOCK_URL already set (compose, a CI service), that fake is used and left running.
const { attachU21Mock, startU21Mock } = require("./index.js");

module.exports = async function u21MockGlobalSetup() {
  const timing = process.env.U21_MOCK_TIMING;
  const fake = process.env.U21_MOCK_URL ? await attachU21Mock() : await startU21Mock(timing ? { timing } : {});
  // globalSetup and globalTeardown run in the same process: the handle waits here.
  globalThis.__U21_MOCK__ = fake;
  process.env.U21_MOCK_URL = fake.url;
  process.env.U21_MOCK_API_KEY = fake.apiKey;
  if (fake.s3) process.env.U21_MOCK_S3_URL = fake.s3.url;
};
