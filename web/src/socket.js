// Live feed: WebSocket /api/socket (authenticated by the session cookie).
// Reconnects with exponential backoff; after a reconnect the caller refreshes
// whatever may have been missed while the socket was down.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

export class LiveSocket {
  /**
   * @param {object} h handlers: message(obj), open(isReconnect), status(state), closed() -> Promise<boolean>
   *   `closed` is asked after every close; resolving false stops reconnecting (e.g. logged out).
   */
  constructor(h) {
    this.h = h;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = true;
    this.everOpened = false;
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/api/socket`;
  }

  start() {
    this.stopped = false;
    this.everOpened = false;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onerror = ws.onmessage = ws.onopen = null;
      try { ws.close(1000, 'logout'); } catch { /* already closed */ }
    }
    this.h.status('closed');
  }

  connect() {
    if (this.stopped) return;
    this.h.status('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const reconnect = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.h.status('open');
      this.h.open(reconnect);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg === 'object') this.h.message(msg);
    };
    ws.onerror = () => { /* onclose follows */ };
    ws.onclose = async () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.h.status('reconnecting');
      let again = true;
      try { again = await this.h.closed(); } catch { again = true; }
      if (again && !this.stopped) this.schedule();
    };
  }

  schedule() {
    clearTimeout(this.timer);
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
