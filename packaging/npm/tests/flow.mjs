// What a Node user's client does against the fake, with nothing but fetch and FormData: the
// three Unit21 calls and the S3 form POST (the returned fields in order, then the file).
export async function create(fake, fileName, { stream = "transactions", key = fake.apiKey } = {}) {
  const answer = await fetch(`${fake.url}/v1/imports/pre-signed-url/create`, {
    method: "POST",
    headers: { "u21-key": key, "content-type": "application/json" },
    body: JSON.stringify({ stream_name: stream, file_name: fileName }),
  });
  return { status: answer.status, body: await answer.json() };
}

export async function upload(created, fileName, content) {
  const form = new FormData();
  for (const [name, value] of Object.entries(created.form_fields)) form.append(name, value);
  form.append("file", new Blob([content]), fileName);
  return (await fetch(created.url, { method: "POST", body: form })).status;
}

export async function getFile(fake, fileId) {
  const answer = await fetch(`${fake.url}/v1/imports/${fileId}`, { headers: { "u21-key": fake.apiKey } });
  return answer.json();
}

export async function list(fake, key = fake.apiKey) {
  const answer = await fetch(`${fake.url}/v1/imports/list`, {
    method: "POST",
    headers: { "u21-key": key, "content-type": "application/json" },
    body: "{}",
  });
  return { status: answer.status, body: await answer.json() };
}
