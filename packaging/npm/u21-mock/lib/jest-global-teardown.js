"use strict";
// Jest globalTeardown: stops the fake "u21-mock/jest-global-setup" started.
module.exports = async function u21MockGlobalTeardown() {
  const fake = globalThis.__U21_MOCK__;
  delete globalThis.__U21_MOCK__;
  if (fake) await fake.stop();
};
