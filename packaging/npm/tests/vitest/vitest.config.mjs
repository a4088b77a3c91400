export default { test: { globalSetup: ["u21-mock/vitest-global-setup"], include: ["*.vitest.test.mjs"] } };
