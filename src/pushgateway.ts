// Sending one group of series to a Pushgateway. PUT replaces every series of the group (and
// only of that group), so each writer owns its group: a backup run its
// job/cronvault/instance/<host>/backup/<job>, a verify the same plus command/verify. Two
// writers sharing one group would delete each other's series on every PUT.

/** The group's URL: the grouping labels in order, each value URL-encoded. */
export const pushgatewayGroupUrl = (baseUrl: string, labels: [name: string, value: string][]): string =>
  `${baseUrl}/metrics${labels.map(([name, value]) => `/${name}/${encodeURIComponent(value)}`).join('')}`;

/** PUTs a text-format body as the group's whole content; throws on a refused push. */
export const putPushgatewayGroup = async (groupUrl: string, body: string): Promise<void> => {
  const url = new URL(groupUrl);
  const headers: Record<string, string> = { 'content-type': 'text/plain; version=0.0.4' };
  // fetch refuses URLs with credentials; send them as basic auth instead.
  if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const response = await fetch(url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(10_000) });
  if (!response.ok)
    throw new Error(
      `Pushgateway answered ${response.status} ${response.statusText}: ${(await response.text()).slice(0, 200)}`,
    );
};
