module.exports = {
  globalSetup: "u21-mock/jest-global-setup",
  globalTeardown: "u21-mock/jest-global-teardown",
  testMatch: ["**/*.jest.test.js"],
};
