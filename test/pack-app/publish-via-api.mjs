// Shared by the checks that run inside the scratch app: publishes through the server API
// of the `tidings dev` the test started (API_ORIGIN and API_KEY come from its output).
export async function publishViaApi(channel, data) {
  const { API_ORIGIN, API_KEY } = process.env;
  const res = await fetch(`${API_ORIGIN}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
}
