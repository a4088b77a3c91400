// Vitest with u21-mock's global setup: one fake for the run, its details through inject().
import { beforeEach, expect, inject, test } from "vitest";
import { attachU21Mock } from "u21-mock";
import { create, getFile, upload } from "./flow.mjs";

let fake;
beforeEach(async () => {
  fake ??= await attachU21Mock(inject("u21Mock"));
  await fake.control.reset({ settings: true });
});

test("the provided fake takes an upload that the test drives to FINISHED", async () => {
  const info = inject("u21Mock");
  expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(info.s3.url).toBe(`${info.url}/u21-mock-uploads/`);
  const created = await create(fake, "a.csv");
  expect(created.status).toBe(200);
  expect(await upload(created.body, "a.csv", "id\n1\n2\n3\n")).toBe(204);
  const done = await fake.control.waitForStatus(created.body.file_id);
  expect(done.successful_count).toBe(3);
  expect((await getFile(fake, created.body.file_id)).status).toBe("FINISHED");
});

test("each test starts from a reset fake", async () => {
  expect((await fake.control.exportState()).files).toEqual([]);
  expect((await fake.control.clock()).timing).toBe("manual");
});
