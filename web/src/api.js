// Thin client for the trackd HTTP API. Every call sends the session cookie.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorizedHandler = null;

/** Called with no argument whenever an authenticated call answers 401. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/**
 * One API call; resolves with the parsed JSON answer (null for none).
 * `contentType` sends `body` as it is (a File or Blob) instead of as JSON.
 */
async function request(method, path, body, { quiet401 = false, contentType = null } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = contentType || 'application/json';
    init.body = contentType ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'The server cannot be reached');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const message = (data && data.error) || `${res.status} ${res.statusText}`.trim();
    if (res.status === 401 && !quiet401 && unauthorizedHandler) unauthorizedHandler();
    throw new ApiError(res.status, message);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const api = {
  server: () => request('GET', '/api/server'),

  session: () => request('GET', '/api/session', undefined, { quiet401: true }),
  login: (user, password) => request('POST', '/api/session', { user, password }, { quiet401: true }),
  logout: () => request('DELETE', '/api/session', undefined, { quiet401: true }),

  devices: () => request('GET', '/api/devices'),
  addDevice: (d) => request('POST', '/api/devices', d),
  updateDevice: (id, d) => request('PUT', `/api/devices/${encodeURIComponent(id)}`, d),
  deleteDevice: (id) => request('DELETE', `/api/devices/${encodeURIComponent(id)}`),

  latestPositions: () => request('GET', '/api/positions/latest'),
  positions: (params) => request('GET', `/api/positions${query(params)}`),
  events: (params) => request('GET', `/api/events${query(params)}`),
  ackEvent: (id, note) => request('POST', `/api/events/${encodeURIComponent(id)}/ack`, note ? { note } : {}),
  closeEvent: (id, note) => request('POST', `/api/events/${encodeURIComponent(id)}/close`, note ? { note } : {}),

  geofences: () => request('GET', '/api/geofences'),
  addGeofence: (g) => request('POST', '/api/geofences', g),
  updateGeofence: (id, g) => request('PUT', `/api/geofences/${encodeURIComponent(id)}`, g),
  deleteGeofence: (id) => request('DELETE', `/api/geofences/${encodeURIComponent(id)}`),

  rules: () => request('GET', '/api/rules'),
  addRule: (r) => request('POST', '/api/rules', r),
  updateRule: (id, r) => request('PUT', `/api/rules/${encodeURIComponent(id)}`, r),
  deleteRule: (id) => request('DELETE', `/api/rules/${encodeURIComponent(id)}`),

  notifications: () => request('GET', '/api/notifications'),
  addNotification: (n) => request('POST', '/api/notifications', n),
  updateNotification: (id, n) => request('PUT', `/api/notifications/${encodeURIComponent(id)}`, n),
  deleteNotification: (id) => request('DELETE', `/api/notifications/${encodeURIComponent(id)}`),

  commandTypes: (deviceId) => request('GET', `/api/devices/${encodeURIComponent(deviceId)}/commands/types`),
  commands: (params) => request('GET', `/api/commands${query(params)}`),
  sendCommand: (c) => request('POST', '/api/commands', c),

  voice: (params) => request('GET', `/api/voice${query(params)}`),
  /** Uploads an AMR clip to send to the device later (a voiceMessage command). */
  uploadVoice: (deviceId, file) => request('POST', `/api/voice${query({ deviceId })}`, file, { contentType: 'audio/amr' }),
  voiceUrl: (id, format) => `/api/voice/${encodeURIComponent(id)}/audio${query({ format })}`,

  exportUrl: (params) => `/api/export${query(params)}`,
};

/**
 * Every page of a list endpoint that pages with `after=<last id>`:
 * the next page is asked for while a page comes back full.
 */
export async function fetchAll(fetchPage, params, { limit = 5000, maxPages = 100 } = {}) {
  const all = [];
  let after;
  for (let page = 0; page < maxPages; page++) {
    const rows = await fetchPage({ ...params, limit, after });
    if (!Array.isArray(rows) || rows.length === 0) break;
    all.push(...rows);
    if (rows.length < limit) break;
    after = rows[rows.length - 1].id;
  }
  return all;
}
