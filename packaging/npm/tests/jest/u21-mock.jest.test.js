// Jest with u21-mock's global setup: the workers find the fake in U21_MOCK_URL.
const { attachU21Mock } = require("u21-mock");

let fake;
beforeEach(async () => {
  fake ??= await attachU21Mock();
  await fake.control.reset({ settings: true });
});

test("the global fake is in the environment and takes a file", async () => {
  expect(process.env.U21_MOCK_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(process.env.U21_MOCK_S3_URL).toBe(`${process.env.U21_MOCK_URL}/u21-mock-uploads/`);
  const added = await fake.control.addFile("transactions", "a.csv", "id\n1\n2\n", { process: true });
  const done = await fake.control.waitForStatus(added.file_id);
  expect([done.status, done.successful_count]).toEqual(["FINISHED", 2]);
});

test("each test starts from a reset fake", async () => {
  expect((await fake.control.exportState()).files).toEqual([]);
});
