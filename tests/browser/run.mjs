#!/usr/bin/env node
// End-to-end test of the trackd web UI in headless Chromium against a real
// trackd server that this script starts and stops itself.
//
//   npm ci --prefix tests/browser
//   node tests/browser/run.mjs --trackd build/trackd --web-root build/web --artifacts build/browser-artifacts
//
// Options: --chromium PATH (default /usr/bin/chromium), --timeout SECONDS
// (default 110, for the whole run). A simulated GOTOP TE-207 tracker, a
// simulated IW health bracelet and a simulated 3G watch (commands and voice
// messages) report over loopback TCP to the device port.
// One line is printed per check, then "N passed, N failed"; the exit status
// is non-zero when any check failed. Screenshots go to the artifacts folder.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// --- options -------------------------------------------------------------------

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) usage(`--${name} needs a value`);
  return v;
}

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node run.mjs --trackd PATH --web-root DIR --artifacts DIR [--chromium PATH] [--timeout S]');
  process.exit(2);
}

const TRACKD = option('trackd');
const WEB_ROOT = option('web-root');
const ARTIFACTS = option('artifacts');
const CHROMIUM = option('chromium', '/usr/bin/chromium');
const TIMEOUT_S = Number(option('timeout', '110'));
if (!TRACKD || !WEB_ROOT || !ARTIFACTS) usage();
mkdirSync(ARTIFACTS, { recursive: true });

const SECRET = 'Browser-Test-Secret-1';
const GOTOP_IMEI = '867648044456745';
const IW_IMEI = '353456789012345';
const WATCH_ID = '1234567890';
// An AMR clip (tests/fixtures/voice.amr) the watch sends as a voice message.
const VOICE_AMR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/voice.amr');
const STEP_TIMEOUT = 10000;
const RENOTIFY_S = 4;

// --- results ---------------------------------------------------------------------

let passed = 0;
let failed = 0;

function pass(name, detail = '') {
  passed++;
  console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
}

function fail(name, err) {
  failed++;
  const lines = (err && err.message ? err.message : String(err)).split('\n');
  // Playwright's timeouts say what they waited for on a later line.
  const waited = lines.find((l) => /waiting for/.test(l));
  console.log(`FAIL ${name}: ${lines[0]}${waited ? ` (${waited.trim()})` : ''}`);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    pass(name, typeof detail === 'string' ? detail : '');
    return true;
  } catch (err) {
    fail(name, err);
    return false;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// --- server ----------------------------------------------------------------------

let server = null;
let tmpdir = null;
let browser = null;

/** Starts trackd on the given ports (0: any) with the run's database. */
function startServer(devicePortWanted = 0, httpPortWanted = 0) {
  tmpdir ||= mkdtempSync(path.join(os.tmpdir(), 'trackd-browser-'));
  const args = ['serve', '--port', String(devicePortWanted), '--http-port', String(httpPortWanted), '--listen', '127.0.0.1',
    '--db', path.join(tmpdir, 't.db'), '--admin-password', SECRET, '--web-root', WEB_ROOT,
    // Open critical events are reminded every few seconds, so a reminder can be seen.
    '--renotify-interval', String(RENOTIFY_S)];
  // The server keeps its default tile URL (OpenStreetMap): the browser is not
  // allowed to reach it, which also shows that failing tiles break nothing.
  const log = createWriteStream(path.join(ARTIFACTS, 'trackd.log'), { flags: devicePortWanted ? 'a' : 'w' });
  server = spawn(TRACKD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let devicePort = 0;
    let httpPort = 0;
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no "device port"/"http port ... open" lines within 15 s; log: ${text.slice(-500)}`)), 15000);
    const onData = (chunk) => {
      log.write(chunk);
      if (devicePort && httpPort) return;
      text += chunk.toString();
      devicePort ||= Number((/device port (\d+) open/.exec(text) || [])[1] || 0);
      httpPort ||= Number((/http port (\d+) open/.exec(text) || [])[1] || 0);
      if (devicePort && httpPort) {
        clearTimeout(timer);
        resolve({ devicePort, httpPort });
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('error', (err) => { clearTimeout(timer); reject(err); });
    server.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`trackd exited (${code ?? sig}) before listening; log: ${text.slice(-500)}`));
    });
  });
}

/** SIGTERM, and SIGKILL if trackd is still there 5 s later. */
async function stopProcess() {
  const proc = server;
  server = null;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

async function stopServer() {
  await stopProcess();
  if (tmpdir) rmSync(tmpdir, { recursive: true, force: true });
  tmpdir = null;
}

let cleaning = null;
function cleanup() {
  cleaning ||= (async () => {
    try { if (browser) await browser.close(); } catch { /* already gone */ }
    await stopServer();
  })();
  return cleaning;
}

const guard = setTimeout(async () => {
  console.log(`FAIL global timeout: the run took more than ${TIMEOUT_S} s`);
  failed++;
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 5000))]);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, TIMEOUT_S * 1000);

// A promise left waiting when a check failed must not end the run early.
process.on('unhandledRejection', () => {});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(130);
  });
}

// --- simulated devices -----------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, '0');
const yymmdd = (t) => `${pad(t.getUTCFullYear() % 100)}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}`;
const hhmmss = (t) => `${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}`;

/** GOTOP classic layout: #IMEI,TYPE,A,DATE:,TIME:,LAT:,LON:,Speed:,battery-gsm,course# */
function gotopFrame(type, t, lat, lon, speed, course, battery = 84) {
  const la = `${Math.abs(lat).toFixed(7).padStart(10, '0')}${lat >= 0 ? 'N' : 'S'}`;
  const lo = `${Math.abs(lon).toFixed(7).padStart(11, '0')}${lon >= 0 ? 'E' : 'W'}`;
  return `#${GOTOP_IMEI},${type},A,DATE:${yymmdd(t)},TIME:${hhmmss(t)},LAT:${la},LON:${lo},` +
    `Speed:${speed.toFixed(1).padStart(5, '0')},${battery}-20,${pad(Math.round(course), 3)}#`;
}

function nmea(value, degWidth) {
  const a = Math.abs(value);
  const deg = Math.floor(a);
  const min = (a - deg) * 60;
  return `${pad(deg, degWidth)}${min.toFixed(4).padStart(7, '0')}`;
}

/** IW AP01 (position) or AP10 (alarm, code 01 SOS / 06 fall). */
function iwPosition(t, lat, lon, speed, course, battery = 77, alarm = null) {
  const gps = `${yymmdd(t)}A${nmea(lat, 2)}${lat >= 0 ? 'N' : 'S'}${nmea(lon, 3)}${lon >= 0 ? 'E' : 'W'}` +
    `${speed.toFixed(1).padStart(5, '0')}${hhmmss(t)}${course.toFixed(2).padStart(6, '0')}` +
    `075008${pad(battery, 3)}00001`;
  return alarm ? `IWAP10${gps},502,16,1234,56789,${alarm},en,00#` : `IWAP01${gps},502,16,1234,56789#`;
}

/**
 * A 3G watch frame [3G*ID*LLLL*CONTENT]: LLLL is the content's length in hex
 * after 0x7D 0x5B 0x5D 0x2C 0x2A in binary data became 0x7D 0x01 … 0x05.
 */
function watchFrame(word, data = null) {
  let content = Buffer.from(word, 'latin1');
  if (data) {
    const esc = [];
    for (const b of data) {
      const i = [0x7D, 0x5B, 0x5D, 0x2C, 0x2A].indexOf(b);
      if (i < 0) esc.push(b);
      else esc.push(0x7D, i + 1);
    }
    content = Buffer.concat([content, Buffer.from(','), Buffer.from(esc)]);
  }
  const len = content.length.toString(16).toUpperCase().padStart(4, '0');
  return Buffer.concat([Buffer.from(`[3G*${WATCH_ID}*${len}*`), content, Buffer.from(']')]);
}

class Device {
  constructor(port) {
    this.port = port;
    this.sock = null;
    this.received = '';
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.sock = net.connect({ host: '127.0.0.1', port: this.port }, resolve);
      this.sock.setNoDelay(true);
      this.sock.on('data', (d) => { this.received += d.toString('latin1'); });
      this.sock.on('error', reject);
    });
  }

  /** Writes one frame; resolves with the time (ms) the write was handed to the kernel. */
  send(frame) {
    return new Promise((resolve, reject) => {
      const t = Date.now();
      this.sock.write(frame, (err) => (err ? reject(err) : resolve(t)));
    });
  }

  /** Waits until the server has sent `text` at least `count` times. */
  async waitFor(text, count = 1, ms = 5000) {
    const end = Date.now() + ms;
    while (this.received.split(text).length - 1 < count) {
      if (Date.now() > end) throw new Error(`device got no ${text} (got ${JSON.stringify(this.received.slice(-80))})`);
      await sleep(20);
    }
  }

  close() {
    if (this.sock) this.sock.destroy();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- page helpers ------------------------------------------------------------------

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

/** Device id the UI knows for a uniqueId (waits for it to arrive). */
async function deviceId(page, uniqueId) {
  const handle = await page.waitForFunction((uid) => {
    const s = window.trackdUI && window.trackdUI.state;
    if (!s) return null;
    for (const d of s.devices.values()) if (d.uniqueId === uid) return d.id;
    return null;
  }, uniqueId, { timeout: STEP_TIMEOUT });
  return handle.jsonValue();
}

/** Time (Date.now() in the page) at which a marker shows the given latitude. */
function markerArrival(page, id, lat) {
  return page.evaluate(({ id, lat, timeout }) => new Promise((resolve, reject) => {
    const sel = `[data-testid="marker-${id}"]`;
    const hit = () => {
      const el = document.querySelector(sel);
      return el && Math.abs(Number(el.dataset.lat) - lat) < 1e-6;
    };
    if (hit()) { resolve(Date.now()); return; }
    const obs = new MutationObserver(() => {
      if (hit()) { obs.disconnect(); clearTimeout(t); resolve(Date.now()); }
    });
    obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-lat'] });
    const t = setTimeout(() => { obs.disconnect(); reject(new Error(`marker ${id} never showed latitude ${lat}`)); }, timeout);
  }), { id, lat, timeout: STEP_TIMEOUT });
}

async function clickTab(page, name) {
  await page.click(`[data-testid="tab-${name}"]`);
  await page.waitForSelector(`[data-testid="pane-${name}"]:not([hidden])`, { timeout: STEP_TIMEOUT });
}

/** The API as the page's session sees it: {status, body}. */
function apiCall(page, method, url, body) {
  return page.evaluate(async ({ method, url, body }) => {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    return { status: res.status, body: data };
  }, { method, url, body });
}

async function apiGet(page, url) {
  const r = await apiCall(page, 'GET', url);
  assert(r.status === 200, `GET ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * Points on the map given as pixel offsets from the centre of the map: page
 * coordinates to click at, and the latitude and longitude the map shows there.
 * Mouse events carry whole pixels, so the page coordinates are rounded first.
 */
function mapPoints(page, offsets) {
  return page.evaluate((offsets) => {
    const map = window.trackdUI.map;
    const size = map.getSize();
    const el = map.getContainer();
    const box = el.getBoundingClientRect();
    return offsets.map(([dx, dy]) => {
      const x = Math.round(box.left + size.x / 2 + dx);
      const y = Math.round(box.top + size.y / 2 + dy);
      const ll = map.containerPointToLatLng([x - box.left - el.clientLeft, y - box.top - el.clientTop]);
      return { x, y, lat: ll.lat, lon: ll.lng };
    });
  }, offsets);
}

/** A check that failed may leave a dialog open over the page: close it. */
async function closeDialogs(page) {
  await page.evaluate(() => document.querySelectorAll('dialog[open]').forEach((d) => d.close()));
}

/** Great-circle distance in metres as the map measures it. */
function mapDistance(page, a, b) {
  return page.evaluate(([a, b]) => window.trackdUI.map.distance([a.lat, a.lon], [b.lat, b.lon]), [a, b]);
}

const near = (a, b, tol) => Math.abs(a - b) <= tol;

/** Waits until the map is neither moving nor zooming (animations run 250 ms). */
async function mapSettled(page) {
  await page.evaluate(() => new Promise((resolve) => {
    const map = window.trackdUI.map;
    let last = '';
    const tick = () => {
      const now = `${map.getCenter().lat},${map.getCenter().lng},${map.getZoom()},${map._animatingZoom ? 1 : 0}`;
      if (now === last) resolve();
      else { last = now; setTimeout(tick, 150); }
    };
    tick();
  }));
}

// --- the run -----------------------------------------------------------------------

async function main() {
  const { devicePort, httpPort } = await startServer();
  const base = `http://127.0.0.1:${httpPort}`;
  pass('trackd started', `device port ${devicePort}, http port ${httpPort}`);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Offline run: refuse anything that is not the server under test (map tiles).
  let refused = 0;
  const offline = (route) => { refused++; return route.abort('internetdisconnected'); };
  await context.route((url) => !url.href.startsWith(base), offline);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  // 1. Login ---------------------------------------------------------------------
  await page.goto(base + '/', { timeout: STEP_TIMEOUT });
  const loginOk = await check('login page shown', async () => {
    await page.waitForSelector('[data-testid="login-view"]:not([hidden])', { timeout: STEP_TIMEOUT });
  });
  await check('wrong password is refused with a message', async () => {
    await page.fill('[data-testid="login-user"]', 'admin');
    await page.fill('[data-testid="login-password"]', 'not-the-password');
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="login-error"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const msg = await page.textContent('[data-testid="login-error"]');
    assert(/wrong|password|credential/i.test(msg), `error text: ${msg}`);
  });
  await page.fill('[data-testid="login-password"]', SECRET);
  await shot(page, '01-login.png');
  const loggedIn = loginOk && await check('log in as admin', async () => {
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="app"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="ws-status"][data-state="open"]', { timeout: STEP_TIMEOUT });
    const user = await page.textContent('[data-testid="user-name"]');
    assert(user.includes('admin'), `user shown: ${user}`);
  });
  await shot(page, '02-app.png');
  if (!loggedIn) throw new Error('cannot go on without a session');
  await page.evaluate(() => { window.__sameDocument = true; });

  // 2. Devices report; markers appear live ------------------------------------------
  const now = Date.now();
  const gotop = new Device(devicePort);
  const iw = new Device(devicePort);
  await gotop.connect();
  await iw.connect();

  // GOTOP: a track of 8 fixes, one a minute, heading north-east.
  const track = [];
  for (let i = 0; i < 8; i++) {
    const t = new Date(now - (20 - i) * 60e3);
    const fix = { t, lat: 3.1390 + i * 0.0012, lon: 101.6869 + i * 0.0009, speed: 20 + i, course: 37 };
    track.push(fix);
    await gotop.send(gotopFrame('CMD-T', t, fix.lat, fix.lon, fix.speed, fix.course, 90 - i));
  }
  // IW bracelet: login, two fixes, then heart rate and blood pressure readings.
  await iw.send(`IWAP00${IW_IMEI}#`);
  await iw.waitFor('IWBP00');
  await iw.send(iwPosition(new Date(now - 15 * 60e3), 3.1478, 101.6953, 3.2, 120));
  await iw.send(iwPosition(new Date(now - 14 * 60e3), 3.1480, 101.6956, 2.1, 135));
  const heartRates = [71, 76, 83];
  for (const [i, hr] of heartRates.entries()) {
    await iw.send(`IWAPHT,${hr},${118 + i},${77 + i}#`);
    await iw.waitFor('IWBPHT#', i + 1); // one reading at a time: they are stamped on arrival
    await sleep(20);
  }
  await iw.send('IWAPHP,83,121,79,97,,36.6,,,,,,,#');

  let gotopId = null;
  let iwId = null;
  await check('both devices appear in the UI', async () => {
    gotopId = await deviceId(page, GOTOP_IMEI);
    iwId = await deviceId(page, IW_IMEI);
    return `ids ${gotopId}, ${iwId}`;
  });
  await check('GOTOP marker on the map at its last fix, arrow rotated by course', async () => {
    const last = track[track.length - 1];
    await markerArrival(page, gotopId, last.lat);
    const m = page.locator(`[data-testid="marker-${gotopId}"]`);
    assert(await m.isVisible(), 'marker not visible');
    const course = await m.getAttribute('data-course');
    assert(Number(course) === 37, `course ${course}`);
    const transform = await m.locator('svg').evaluate((el) => el.style.transform);
    assert(transform.includes('rotate(37deg)'), `arrow transform ${transform}`);
    const age = await m.locator('.dm-age').textContent();
    assert(/ago|just now/.test(age), `age label ${age}`);
  });
  await check('IW marker on the map', async () => {
    await markerArrival(page, iwId, 3.1480);
    assert(await page.locator(`[data-testid="marker-${iwId}"]`).isVisible(), 'marker not visible');
  });

  // Name the devices through the UI (edit dialog).
  await check('edit device names in the device list', async () => {
    for (const [id, name] of [[gotopId, 'TE-207 tracker'], [iwId, 'IW bracelet']]) {
      await page.click(`[data-testid="device-edit-${id}"]`);
      await page.fill('[data-testid="device-form-name"]', name);
      await page.click('[data-testid="device-form-save"]');
      await page.waitForSelector('[data-testid="device-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
      await page.waitForFunction(({ id, name }) =>
        document.querySelector(`[data-testid="marker-${id}"] .dm-name`)?.textContent === name &&
        document.querySelector(`[data-testid="device-item-${id}"] [data-testid="device-name"]`)?.textContent === name,
      { id, name }, { timeout: STEP_TIMEOUT });
    }
  });
  await page.evaluate(() => {
    // Same view for every run: both devices on screen.
    const s = window.trackdUI.state;
    const pts = [...s.lastFix.values()].map((p) => [p.latitude, p.longitude]);
    window.trackdUI.map?.fitBounds(pts, { padding: [80, 80] });
  });
  await sleep(400);
  await shot(page, '03-map-markers.png');

  // 3. Frame-to-browser latency ---------------------------------------------------------
  const latencies = [];
  await check('live positions move the marker without reload', async () => {
    for (let i = 0; i < 5; i++) {
      const t = new Date(now - (11 - i) * 60e3);
      const fix = { t, lat: 3.1490 + i * 0.0007, lon: 101.6941 + i * 0.0005, speed: 30, course: 45 };
      track.push(fix);
      const arrival = markerArrival(page, gotopId, fix.lat);
      await sleep(30); // the observer is in place before the frame leaves
      const sent = await gotop.send(gotopFrame('CMD-T', t, fix.lat, fix.lon, fix.speed, fix.course, 80));
      latencies.push((await arrival) - sent);
    }
    assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    return `samples ${latencies.join(', ')} ms`;
  });
  if (latencies.length) {
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(`frame-to-browser latency: ${median} ms (median of ${sorted.length}; min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms)`);
  }

  // 4. SOS and fall alarms in the event feed -------------------------------------------
  await clickTab(page, 'events');
  const sosFix = { t: new Date(now - 5 * 60e3), lat: 3.1525, lon: 101.6966, speed: 0, course: 45 };
  track.push(sosFix);
  await check('SOS appears in the event feed live and stands out', async () => {
    await gotop.send(gotopFrame('CMD-KEY', sosFix.t, sosFix.lat, sosFix.lon, 0, 45, 79));
    const item = page.locator(`[data-testid^="event-item-"][data-type="sos"][data-device-id="${gotopId}"]`).first();
    await item.waitFor({ timeout: STEP_TIMEOUT });
    assert(await item.evaluate((el) => el.classList.contains('critical')), 'SOS item is not marked critical');
    const bg = await item.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert(bg !== 'rgba(0, 0, 0, 0)' && bg !== 'rgb(255, 255, 255)', `SOS item background ${bg}`);
    await page.waitForSelector('[data-testid="alert-banner"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const banner = await page.textContent('[data-testid="alert-text"]');
    assert(/SOS/.test(banner) && banner.includes('TE-207 tracker'), `banner: ${banner}`);
    const first = await page.locator('[data-testid^="event-item-"]').first().getAttribute('data-type');
    assert(first === 'sos', `newest event first, got ${first}`);
    assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
  });
  await shot(page, '04-sos-event.png');
  await check('fall alarm from the bracelet stands out too', async () => {
    await iw.send(iwPosition(new Date(now - 4 * 60e3), 3.1482, 101.6957, 0, 0, 76, '06'));
    const item = page.locator(`[data-testid^="event-item-"][data-type="fall"][data-device-id="${iwId}"]`).first();
    await item.waitFor({ timeout: STEP_TIMEOUT });
    assert(await item.evaluate((el) => el.classList.contains('critical')), 'fall item is not marked critical');
    await page.waitForFunction(() => /FALL/.test(document.querySelector('[data-testid="alert-text"]')?.textContent || ''),
      null, { timeout: STEP_TIMEOUT });
  });
  await check('clicking an event centres the map on it with a popup', async () => {
    // The label, not the middle of the row: rows have Acknowledge and Close buttons.
    await page.locator(`[data-testid^="event-item-"][data-type="sos"] [data-testid="event-type"]`).first().click();
    await page.waitForSelector('[data-testid="focus-popup"]', { timeout: STEP_TIMEOUT });
    const text = await page.textContent('[data-testid="focus-popup"]');
    assert(/SOS/.test(text), `popup: ${text}`);
    await mapSettled(page);
    const c = await page.evaluate(() => window.trackdUI.map.getCenter());
    assert(Math.abs(c.lat - sosFix.lat) < 1e-3 && Math.abs(c.lng - sosFix.lon) < 1e-3, `centre ${c.lat},${c.lng}`);
  });
  await sleep(300); // popup fade-in
  await shot(page, '05-event-on-map.png');
  // The banner stays while SOS and fall are open (reminders would bring it back
  // every few seconds and move the page under later clicks).

  // 5. Device list and panel ------------------------------------------------------------
  await clickTab(page, 'devices');
  await check('device list shows status, protocol, battery and last seen', async () => {
    const g = page.locator(`[data-testid="device-item-${gotopId}"]`);
    const i = page.locator(`[data-testid="device-item-${iwId}"]`);
    assert((await g.locator('[data-testid="device-protocol"]').textContent()) === 'gotop', 'gotop protocol');
    assert((await i.locator('[data-testid="device-protocol"]').textContent()) === 'iw', 'iw protocol');
    const st = await g.getAttribute('data-status');
    assert(st === 'online', `GOTOP status ${st}`);
    assert((await g.locator('[data-testid="device-battery"]').textContent()).includes('79%'), 'GOTOP battery 79%');
    assert(/seen/.test(await g.locator('[data-testid="device-lastseen"]').textContent()), 'last seen');
  });
  await check('search filters the list by name and unique ID', async () => {
    await page.fill('[data-testid="device-search"]', 'bracelet');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="device-item-"]').length === 1, null, { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="device-search"]', GOTOP_IMEI.slice(3, 10));
    await page.waitForFunction((id) => {
      const items = document.querySelectorAll('[data-testid^="device-item-"]');
      return items.length === 1 && items[0].dataset.deviceId === String(id);
    }, gotopId, { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="device-search"]', '');
  });
  await check('add, rename and delete a device', async () => {
    await page.click('[data-testid="device-add"]');
    await page.fill('[data-testid="device-form-name"]', 'Spare unit');
    await page.fill('[data-testid="device-form-uniqueid"]', '860000000000001');
    await page.click('[data-testid="device-form-save"]');
    const item = page.locator('[data-testid^="device-item-"]', { hasText: 'Spare unit' });
    await item.waitFor({ timeout: STEP_TIMEOUT });
    const id = await item.getAttribute('data-device-id');
    // A second device with the same uniqueId is refused (409) and the dialog says so.
    await page.click('[data-testid="device-add"]');
    await page.fill('[data-testid="device-form-name"]', 'Duplicate');
    await page.fill('[data-testid="device-form-uniqueid"]', '860000000000001');
    await page.click('[data-testid="device-form-save"]');
    await page.waitForSelector('[data-testid="device-form-error"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.click('[data-testid="device-form-cancel"]');
    // Names are shown as text, never as markup.
    const tricky = 'Spare <img src=x onerror="window.__injected=1"> 2';
    await page.click(`[data-testid="device-edit-${id}"]`);
    await page.fill('[data-testid="device-form-name"]', tricky);
    await page.click('[data-testid="device-form-save"]');
    await page.waitForFunction(({ id, tricky }) =>
      document.querySelector(`[data-testid="device-item-${id}"] [data-testid="device-name"]`)?.textContent === tricky,
    { id, tricky }, { timeout: STEP_TIMEOUT });
    assert(await page.evaluate(() => window.__injected === undefined && !document.querySelector('#device-list img')),
      'a device name was interpreted as HTML');
    const list = await page.evaluate(async () => (await fetch('/api/devices')).json());
    assert(list.some((d) => String(d.id) === id && d.name === tricky), 'rename not stored by the server');
    await page.click(`[data-testid="device-delete-${id}"]`);
    await page.click('[data-testid="confirm-ok"]');
    await page.locator(`[data-testid="device-item-${id}"]`).waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
    const after = await page.evaluate(async () => (await fetch('/api/devices')).json());
    assert(!after.some((d) => String(d.id) === id), 'device still on the server');
    // The live feed's deletion notice arrives too: it must not bring the device back.
    await sleep(300);
    assert(await page.evaluate((id) => !window.trackdUI.state.devices.has(Number(id)), id), 'deleted device back in the page state');
    assert(await page.locator(`[data-testid="device-item-${id}"]`).count() === 0, 'deleted device back in the list');
  });
  await shot(page, '06-devices.png');
  await check('device panel shows the latest values of the bracelet', async () => {
    await page.click(`[data-testid="device-item-${iwId}"] [data-testid="device-name"]`);
    await page.waitForSelector(`[data-testid="device-panel"][data-device-id="${iwId}"]:not([hidden])`, { timeout: STEP_TIMEOUT });
    await page.waitForFunction(() => /83/.test(document.querySelector('[data-testid="dp-heartRate"]')?.textContent || ''),
      null, { timeout: STEP_TIMEOUT });
    const text = async (id) => (await page.textContent(`[data-testid="${id}"]`)).trim();
    assert((await text('dp-spo2')).startsWith('97'), `spo2 ${await text('dp-spo2')}`);
    assert(/121.*79/.test(await text('dp-bp')), `bp ${await text('dp-bp')}`);
    assert((await text('dp-bodyTemperature')).startsWith('36.6'), `temperature ${await text('dp-bodyTemperature')}`);
    assert((await text('dp-battery')) === '76%', `battery ${await text('dp-battery')}`);
    assert(/3\.148/.test(await text('dp-position')), `position ${await text('dp-position')}`);
  });
  await check('device panel shows position, speed, course and alarms of the tracker', async () => {
    await page.click(`[data-testid="device-item-${gotopId}"] [data-testid="device-name"]`);
    await page.waitForSelector(`[data-testid="device-panel"][data-device-id="${gotopId}"]:not([hidden])`, { timeout: STEP_TIMEOUT });
    const text = async (id) => (await page.textContent(`[data-testid="${id}"]`)).trim();
    assert(/3\.15250, 101\.69660/.test(await text('dp-position')), `position ${await text('dp-position')}`);
    assert((await text('dp-course')).startsWith('45'), `course ${await text('dp-course')}`);
    assert((await text('dp-speed')).startsWith('0.0'), `speed ${await text('dp-speed')}`);
    assert(/valid/.test(await text('dp-valid')), 'validity');
    assert(/SOS/.test(await page.textContent('[data-testid="dp-alarms"]')), 'SOS alarm chip');
  });
  await shot(page, '07-device-panel.png');

  // 6. History playback -------------------------------------------------------------------
  await check('history draws the track and playback moves the marker', async () => {
    await page.click('[data-testid="dp-history"]');
    await page.waitForSelector('[data-testid="pane-history"]:not([hidden])', { timeout: STEP_TIMEOUT });
    assert((await page.inputValue('[data-testid="history-device"]')) === String(gotopId), 'device preselected');
    await page.click('[data-testid="history-load"]');
    await page.waitForSelector('[data-testid="history-status"][data-state="loaded"]', { timeout: STEP_TIMEOUT });
    const pts = await page.evaluate(() => window.trackdUI.history.points.map((p) => [p.latitude, p.longitude]));
    assert(pts.length === track.length, `${pts.length} points drawn, ${track.length} sent`);
    for (const [i, f] of track.entries()) {
      assert(Math.abs(pts[i][0] - f.lat) < 1e-5 && Math.abs(pts[i][1] - f.lon) < 1e-5, `point ${i} is ${pts[i]}`);
    }
    const d = await page.getAttribute('path.history-track', 'd');
    assert(d && (d.match(/[ML]/g) || []).length >= 2, `polyline path ${d}`);
    const href = await page.getAttribute('[data-testid="export-gpx"]', 'href');
    assert(href.startsWith('/api/export?') && href.includes(`deviceId=${gotopId}`) && href.includes('format=gpx'), `export ${href}`);
    // Slider to the end: the playback marker is at the last fix.
    await page.locator('[data-testid="history-slider"]').evaluate((el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, track.length - 1);
    const m = page.locator('[data-testid="playback-marker"]');
    assert(Number(await m.getAttribute('data-index')) === track.length - 1, 'slider did not move the marker');
    assert(Math.abs(Number(await m.getAttribute('data-lat')) - sosFix.lat) < 1e-5, 'marker not at the last fix');
    // Play from the start at the fastest speed: the marker walks the track.
    await page.locator('[data-testid="history-slider"]').evaluate((el) => {
      el.value = '0';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.selectOption('[data-testid="history-speed"]', '4');
    await page.click('[data-testid="history-play"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="playback-marker"]')?.dataset.index) >= 3,
      null, { timeout: STEP_TIMEOUT });
    // Pause (unless the end was reached already) and read where the marker is, in one go.
    const at = await page.evaluate(() => {
      const btn = document.querySelector('[data-testid="history-play"]');
      if (btn.dataset.state === 'playing') btn.click();
      const el = document.querySelector('[data-testid="playback-marker"]');
      return { state: btn.dataset.state, index: Number(el.dataset.index), lat: Number(el.dataset.lat) };
    });
    assert(at.state === 'paused', `playback state ${at.state}`);
    const idx = at.index;
    assert(Math.abs(at.lat - track[idx].lat) < 1e-5, `marker at ${at.lat}, point ${idx} is ${track[idx].lat}`);
    await sleep(300);
    assert(Number(await m.getAttribute('data-index')) === idx, 'the marker moved while paused');
    return `${pts.length} points, playback reached point ${idx + 1}`;
  });
  await shot(page, '08-history.png');
  await page.click('[data-testid="history-clear"]');

  // 7. Health charts ---------------------------------------------------------------------
  await check('health chart shows the heart-rate values that were sent', async () => {
    await clickTab(page, 'health');
    await page.selectOption('[data-testid="health-device"]', String(iwId));
    await page.click('[data-testid="health-load"]');
    await page.waitForSelector('[data-testid="health-status"][data-state="loaded"]', { timeout: STEP_TIMEOUT });
    const series = await page.evaluate(() => window.trackdUI.health.data.heartRate[1]);
    const expected = [...heartRates, 83]; // APHT readings, then the APHP one
    assert(JSON.stringify(series) === JSON.stringify(expected), `chart data ${JSON.stringify(series)}`);
    const values = await page.getAttribute('[data-testid="health-chart-heartRate"]', 'data-values');
    assert(values === expected.join(','), `rendered values ${values}`);
    const summary = await page.textContent('[data-testid="health-summary-heartRate"]');
    assert(/83 bpm/.test(summary) && /min 71/.test(summary) && /max 83/.test(summary), `summary ${summary}`);
    const bp = await page.evaluate(() => window.trackdUI.health.data.bp.slice(1));
    assert(JSON.stringify(bp) === JSON.stringify([[118, 119, 120, 121], [77, 78, 79, 79]]), `blood pressure ${JSON.stringify(bp)}`);
    const spo2 = await page.evaluate(() => window.trackdUI.health.data.spo2[1]);
    assert(JSON.stringify(spo2) === '[97]', `spo2 ${JSON.stringify(spo2)}`);
    const temp = await page.evaluate(() => window.trackdUI.health.data.bodyTemperature[1]);
    assert(JSON.stringify(temp) === '[36.6]', `temperature ${JSON.stringify(temp)}`);
    const canvases = await page.locator('[data-testid="health-charts"] canvas').count();
    assert(canvases >= 4, `${canvases} chart canvases`);
    // The chart itself shows the readings: hovering a point puts its value in the legend.
    await page.locator('[data-testid="health-chart-heartRate"]').scrollIntoViewIfNeeded();
    const pt = await page.evaluate(() => {
      const u = window.trackdUI.health.plots.heartRate;
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(u.data[0][0], 'x'), y: r.top + u.valToPos(u.data[1][0], 'y') };
    });
    await page.mouse.move(pt.x, pt.y);
    const hovered = await page.evaluate(() => {
      const u = window.trackdUI.health.plots.heartRate;
      return u.cursor.idx == null ? null : u.data[1][u.cursor.idx];
    });
    const legend = (await page.locator('[data-testid="health-chart-heartRate"] .u-legend .u-series:nth-child(2) .u-value').textContent()).trim();
    assert(heartRates.includes(hovered) && legend === `${hovered} bpm`, `legend under the cursor: ${legend} (point value ${hovered})`);
    return `heart rate ${series.join(', ')} bpm`;
  });
  await shot(page, '09-health.png');

  // 8. Geofences drawn on the map ----------------------------------------------------------
  // A known view, nothing over the map: pixel offsets from its centre are clicked.
  await clickTab(page, 'rules');
  await page.click('[data-testid="section-geofences"]');
  await page.evaluate(() => {
    window.trackdUI.select(null);
    window.trackdUI.map.setView([3.140, 101.700], 15, { animate: false });
  });
  await sleep(200);
  const fenceName = 'Depot <b>yard</b> & "gate"';
  let polygonId = null;
  let polygonPts = [];
  await check('draw a polygon geofence by clicking on the map', async () => {
    await page.click('[data-testid="geofence-add"]');
    await page.waitForSelector('[data-testid="geofence-editor"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="geofence-form-name"]', fenceName);
    // Only the tracker: untick "all devices", tick it.
    await page.click('[data-testid="geofence-devices-all"]');
    await page.click(`[data-testid="geofence-devices-device-${gotopId}"]`);
    await page.click('[data-testid="geofence-draw-polygon"]');
    await page.waitForSelector('[data-testid="draw-bar"]:not([hidden])', { timeout: STEP_TIMEOUT });
    polygonPts = await mapPoints(page, [[-150, -100], [150, -120], [170, 110], [-130, 120]]);
    for (const p of polygonPts.slice(0, -1)) {
      await page.mouse.click(p.x, p.y);
      await sleep(60); // no double-click
    }
    const last = polygonPts[polygonPts.length - 1];
    await page.mouse.move(last.x - 40, last.y - 30, { steps: 4 }); // the rubber band follows
    const hint = await page.textContent('[data-testid="draw-hint"]');
    assert(/3 corners/.test(hint), `hint: ${hint}`);
    await shot(page, '14-geofence-drawing.png');
    await page.mouse.dblclick(last.x, last.y); // closes the polygon
    await page.waitForSelector('[data-testid="draw-bar"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const area = await page.textContent('[data-testid="geofence-area"]');
    assert(/Polygon, 4 corners/.test(area), `area: ${area}`);
    await page.click('[data-testid="geofence-form-save"]');
    await page.waitForSelector('[data-testid="geofence-editor"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const list = await apiGet(page, '/api/geofences');
    const g = list.find((x) => x.name === fenceName);
    assert(g, `no geofence named ${fenceName}: ${JSON.stringify(list)}`);
    polygonId = g.id;
    assert(g.area.type === 'polygon' && g.area.coordinates.length === 4, `area ${JSON.stringify(g.area)}`);
    for (const [i, p] of polygonPts.entries()) {
      const [lat, lon] = g.area.coordinates[i];
      assert(near(lat, p.lat, 1e-5) && near(lon, p.lon, 1e-5), `corner ${i}: stored ${lat},${lon}, clicked ${p.lat},${p.lon}`);
    }
    assert(JSON.stringify(g.deviceIds) === JSON.stringify([gotopId]), `deviceIds ${JSON.stringify(g.deviceIds)}`);
    return `corners ${g.area.coordinates.map(([a, b]) => `${a.toFixed(5)},${b.toFixed(5)}`).join(' ')}`;
  });
  let circleId = null;
  await check('draw a circle geofence: click the centre, click the edge', async () => {
    await page.click('[data-testid="geofence-add"]');
    await page.fill('[data-testid="geofence-form-name"]', 'Clinic');
    await page.click('[data-testid="geofence-draw-circle"]');
    await page.waitForSelector('[data-testid="draw-bar"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const [c, e] = await mapPoints(page, [[-300, 0], [-220, 0]]);
    await page.mouse.click(c.x, c.y);
    await sleep(60);
    await page.mouse.move(e.x - 30, e.y, { steps: 3 }); // the preview follows the pointer
    await page.mouse.click(e.x, e.y);
    await page.waitForSelector('[data-testid="draw-bar"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await page.click('[data-testid="geofence-form-save"]');
    await page.waitForSelector('[data-testid="geofence-editor"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const g = (await apiGet(page, '/api/geofences')).find((x) => x.name === 'Clinic');
    assert(g, 'no geofence named Clinic');
    circleId = g.id;
    const r = await mapDistance(page, c, e);
    assert(g.area.type === 'circle', `type ${g.area.type}`);
    assert(near(g.area.latitude, c.lat, 1e-5) && near(g.area.longitude, c.lon, 1e-5),
      `centre ${g.area.latitude},${g.area.longitude}, clicked ${c.lat},${c.lon}`);
    assert(near(g.area.radius, r, 1.5), `radius ${g.area.radius} m, clicked ${r.toFixed(1)} m`);
    assert(g.deviceIds === null || g.deviceIds === undefined, `deviceIds ${JSON.stringify(g.deviceIds)}`);
    return `radius ${g.area.radius} m`;
  });
  await check('edit a geofence: rename and redraw the circle by dragging', async () => {
    await page.click(`[data-testid="geofence-edit-${circleId}"]`);
    await page.waitForSelector('[data-testid="geofence-editor"][data-mode="edit"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="geofence-form-name"]', 'Clinic grounds');
    await page.click('[data-testid="geofence-draw-circle"]');
    await page.waitForSelector('[data-testid="draw-bar"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const [c, e] = await mapPoints(page, [[-300, 10], [-300, 110]]);
    await page.mouse.move(c.x, c.y);
    await page.mouse.down();
    await page.mouse.move(e.x, e.y, { steps: 6 });
    await page.mouse.up();
    await page.waitForSelector('[data-testid="draw-bar"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await page.click('[data-testid="geofence-form-save"]');
    await page.waitForSelector('[data-testid="geofence-editor"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const g = (await apiGet(page, '/api/geofences')).find((x) => x.id === circleId);
    const r = await mapDistance(page, c, e);
    assert(g.name === 'Clinic grounds', `name ${g.name}`);
    assert(near(g.area.latitude, c.lat, 1e-5) && near(g.area.longitude, c.lon, 1e-5), 'centre not redrawn');
    assert(near(g.area.radius, r, 1.5), `radius ${g.area.radius} m, dragged ${r.toFixed(1)} m`);
    return `radius ${g.area.radius} m`;
  });
  await check('adjust a polygon: drag a corner handle', async () => {
    await page.click(`[data-testid="geofence-edit-${polygonId}"]`);
    await page.waitForSelector('[data-testid="geofence-editor"][data-mode="edit"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await mapSettled(page); // the map is fitted to the polygon
    const handle = page.locator('.leaflet-marker-pane .draw-handle, .leaflet-drawHandles-pane .draw-handle').nth(1);
    const box = await handle.boundingBox();
    const from = { x: Math.round(box.x + box.width / 2), y: Math.round(box.y + box.height / 2) };
    const to = { x: from.x + 40, y: from.y + 30 };
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 8 });
    await page.mouse.up();
    const want = await page.evaluate(({ x, y }) => {
      const map = window.trackdUI.map;
      const r = map.getContainer().getBoundingClientRect();
      const ll = map.containerPointToLatLng([x - r.left, y - r.top]);
      return { lat: ll.lat, lon: ll.lng, perPx: map.distance(ll, map.containerPointToLatLng([x - r.left + 1, y - r.top])) };
    }, to);
    await page.click('[data-testid="geofence-form-save"]');
    await page.waitForSelector('[data-testid="geofence-editor"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const g = (await apiGet(page, '/api/geofences')).find((x) => x.id === polygonId);
    const [lat, lon] = g.area.coordinates[1];
    const off = await mapDistance(page, { lat, lon }, want);
    assert(off < 2 * want.perPx, `corner 1 at ${lat},${lon}, dropped at ${want.lat},${want.lon} (${off.toFixed(1)} m off)`);
    assert(g.area.coordinates.length === 4 && g.name === fenceName, `geofence ${JSON.stringify(g)}`);
    const moved = await mapDistance(page, { lat, lon }, polygonPts[1]);
    polygonPts[1] = { ...polygonPts[1], lat, lon };
    return `corner moved ${moved.toFixed(0)} m`;
  });
  await check('geofences are listed and drawn on the map with their names as text', async () => {
    for (const id of [polygonId, circleId]) {
      await page.waitForSelector(`[data-testid="geofence-item-${id}"]`, { timeout: STEP_TIMEOUT });
      await page.waitForSelector(`[data-testid="geofence-shape-${id}"]`, { state: 'attached', timeout: STEP_TIMEOUT });
    }
    const label = await page.textContent(`[data-testid="geofence-label-${polygonId}"]`);
    const item = await page.textContent(`[data-testid="geofence-item-${polygonId}"] [data-testid="geofence-name"]`);
    assert(label === fenceName && item === fenceName, `label ${label}, list ${item}`);
    assert(await page.evaluate(() => !document.querySelector('.gf-label b, #geofence-list b')), 'a geofence name was interpreted as HTML');
    const devices = await page.textContent(`[data-testid="geofence-item-${polygonId}"] [data-testid="geofence-devices-text"]`);
    assert(devices === 'TE-207 tracker', `devices ${devices}`);
  });
  await page.evaluate(() => window.trackdUI.map.setView([3.140, 101.697], 14, { animate: false }));
  await sleep(300);
  await closeDialogs(page);
  await page.evaluate(() => { if (!document.querySelector('[data-testid="geofence-editor"]').hidden) document.querySelector('[data-testid="geofence-form-cancel"]').click(); });
  await shot(page, '15-geofences.png');
  await check('delete a geofence from the list', async () => {
    await page.click(`[data-testid="geofence-delete-${circleId}"]`);
    await page.click('[data-testid="confirm-ok"]');
    await page.locator(`[data-testid="geofence-item-${circleId}"]`).waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
    await page.locator(`[data-testid="geofence-shape-${circleId}"]`).waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
    const list = await apiGet(page, '/api/geofences');
    assert(!list.some((g) => g.id === circleId) && list.some((g) => g.id === polygonId), `left: ${list.map((g) => g.id)}`);
  });

  // 9. Rules and notification channels ----------------------------------------------------
  await check('create a heart-rate rule for the bracelet from the UI', async () => {
    await page.click('[data-testid="section-rules"]');
    await page.click('[data-testid="rule-add"]');
    await page.waitForSelector('[data-testid="rule-dialog"][open]', { timeout: STEP_TIMEOUT });
    await page.selectOption('[data-testid="rule-form-type"]', 'heartRate');
    // Neither limit: the form says what is missing.
    await page.click('[data-testid="rule-form-save"]');
    await page.waitForSelector('[data-testid="rule-form-error"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="rule-attr-above"]', '120');
    await page.fill('[data-testid="rule-attr-below"]', '45');
    await page.fill('[data-testid="rule-attr-minDuration"]', '60');
    await page.click('[data-testid="rule-devices-all"]');
    await page.click(`[data-testid="rule-devices-device-${iwId}"]`);
    await shot(page, '16-rule-dialog.png');
    await page.click('[data-testid="rule-form-save"]');
    await page.waitForSelector('[data-testid="rule-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const rules = await apiGet(page, '/api/rules');
    const r = rules.find((x) => x.type === 'heartRate');
    assert(r, `no heartRate rule: ${JSON.stringify(rules)}`);
    assert(JSON.stringify(r.deviceIds) === JSON.stringify([iwId]), `deviceIds ${JSON.stringify(r.deviceIds)}`);
    assert(r.attributes.above === 120 && r.attributes.below === 45 && r.attributes.minDuration === 60,
      `attributes ${JSON.stringify(r.attributes)}`);
    await page.waitForSelector(`[data-testid="rule-item-${r.id}"]`, { timeout: STEP_TIMEOUT });
    const summary = await page.textContent(`[data-testid="rule-item-${r.id}"] [data-testid="rule-summary"]`);
    assert(/above 120 bpm or below 45 bpm/.test(summary), `summary ${summary}`);
  });
  await check('create a no-report rule for all devices from the UI', async () => {
    await page.click('[data-testid="rule-add"]');
    await page.selectOption('[data-testid="rule-form-type"]', 'noReport');
    await page.fill('[data-testid="rule-attr-minutes"]', '30');
    await page.click('[data-testid="rule-form-save"]');
    await page.waitForSelector('[data-testid="rule-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const r = (await apiGet(page, '/api/rules')).find((x) => x.type === 'noReport');
    assert(r, 'no noReport rule');
    assert(r.deviceIds === null || r.deviceIds === undefined, `deviceIds ${JSON.stringify(r.deviceIds)}`);
    assert(r.attributes.minutes === 30, `attributes ${JSON.stringify(r.attributes)}`);
    await page.waitForSelector(`[data-testid="rule-item-${r.id}"]`, { timeout: STEP_TIMEOUT });
    const devices = await page.textContent(`[data-testid="rule-item-${r.id}"] [data-testid="rule-devices"]`);
    assert(devices === 'All devices', `devices ${devices}`);
  });
  await shot(page, '17-rules.png');
  await check('edit a rule: other minutes, only the tracker', async () => {
    const r = (await apiGet(page, '/api/rules')).find((x) => x.type === 'noReport');
    await page.click(`[data-testid="rule-edit-${r.id}"]`);
    await page.waitForSelector('[data-testid="rule-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="rule-attr-minutes"]') === '30', 'form not filled in');
    await page.fill('[data-testid="rule-attr-minutes"]', '45');
    await page.click('[data-testid="rule-devices-all"]');
    await page.click(`[data-testid="rule-devices-device-${gotopId}"]`);
    await page.click('[data-testid="rule-form-save"]');
    await page.waitForSelector('[data-testid="rule-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const after = (await apiGet(page, '/api/rules')).find((x) => x.id === r.id);
    assert(after.attributes.minutes === 45 && JSON.stringify(after.deviceIds) === JSON.stringify([gotopId]),
      `after: ${JSON.stringify(after)}`);
    await page.waitForFunction((id) => /45 min/.test(document.querySelector(`[data-testid="rule-item-${id}"] [data-testid="rule-summary"]`)?.textContent || ''),
      r.id, { timeout: STEP_TIMEOUT });
  });
  await check('add a webhook channel for SOS and falls from the UI', async () => {
    await page.click('[data-testid="section-notifications"]');
    await page.click('[data-testid="notification-add"]');
    await page.waitForSelector('[data-testid="notification-dialog"][open]', { timeout: STEP_TIMEOUT });
    await page.selectOption('[data-testid="notification-form-channel"]', 'webhook');
    await page.fill('[data-testid="notification-form-target"]', 'http://127.0.0.1:9/trackd-hook');
    await page.click('[data-testid="notification-types-all"]');
    await page.click('[data-testid="notification-types-type-sos"]');
    await page.click('[data-testid="notification-types-type-fall"]');
    await page.click('[data-testid="notification-form-save"]');
    await page.waitForSelector('[data-testid="notification-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const n = (await apiGet(page, '/api/notifications')).find((x) => x.target === 'http://127.0.0.1:9/trackd-hook');
    assert(n && n.channel === 'webhook', 'channel not stored');
    assert(JSON.stringify(n.eventTypes) === '["sos","fall"]', `eventTypes ${JSON.stringify(n.eventTypes)}`);
    assert(n.deviceIds === null || n.deviceIds === undefined, `deviceIds ${JSON.stringify(n.deviceIds)}`);
    await page.waitForSelector(`[data-testid="notification-item-${n.id}"]`, { timeout: STEP_TIMEOUT });
  });
  await closeDialogs(page);
  await check('the server\'s refusal is shown in the form (e-mail without a mail server)', async () => {
    await page.click('[data-testid="notification-add"]');
    await page.selectOption('[data-testid="notification-form-channel"]', 'email');
    await page.fill('[data-testid="notification-form-target"]', 'ops@example.com');
    await page.click('[data-testid="notification-form-save"]');
    await page.waitForSelector('[data-testid="notification-form-error"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const msg = await page.textContent('[data-testid="notification-form-error"]');
    assert(/smtp/i.test(msg), `message: ${msg}`);
    await page.click('[data-testid="notification-form-cancel"]');
  });
  await closeDialogs(page);
  await shot(page, '18-notifications.png');

  // 10. Alert inbox ------------------------------------------------------------------------
  await clickTab(page, 'events');
  let iwSosId = null;
  await check('an SOS from the bracelet is in the inbox as new and critical, first', async () => {
    await iw.send(iwPosition(new Date(), 3.1483, 101.6958, 0, 0, 75, '01'));
    const item = page.locator(`[data-testid^="event-item-"][data-type="sos"][data-device-id="${iwId}"]`).first();
    await item.waitFor({ timeout: STEP_TIMEOUT });
    iwSosId = Number(await item.getAttribute('data-event-id'));
    assert(await item.getAttribute('data-state') === 'new', `state ${await item.getAttribute('data-state')}`);
    assert(await item.getAttribute('data-critical') === 'true', 'not critical');
    assert(await item.evaluate((el) => el.classList.contains('critical') && el.classList.contains('open')), 'not highlighted');
    const first = await page.locator('[data-testid^="event-item-"]').first().getAttribute('data-event-id');
    assert(Number(first) === iwSosId, `first row is event ${first}`);
    await page.waitForSelector(`[data-testid="alert-banner"][data-event-id="${iwSosId}"]:not([hidden])`, { timeout: STEP_TIMEOUT });
    const banner = await page.textContent('[data-testid="alert-text"]');
    assert(/SOS/.test(banner) && banner.includes('IW bracelet'), `banner ${banner}`);
    const ev = (await apiGet(page, `/api/events?deviceId=${iwId}&type=sos`)).find((e) => e.id === iwSosId);
    assert(ev && ev.state === 'new' && ev.critical === true, `API: ${JSON.stringify(ev)}`);
  });
  await shot(page, '19-inbox.png');
  const ackNote = 'Called the wearer <b>ok</b>, false alarm';
  await check('acknowledge with a note: stored with the user, the row updates without reload', async () => {
    await page.click(`[data-testid="event-ack-${iwSosId}"]`);
    await page.waitForSelector('[data-testid="ack-dialog"][open]', { timeout: STEP_TIMEOUT });
    await page.fill('[data-testid="ack-note"]', ackNote);
    await page.click('[data-testid="ack-submit"]');
    await page.waitForSelector('[data-testid="ack-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const row = page.locator(`[data-testid="event-item-${iwSosId}"]`);
    await page.waitForSelector(`[data-testid="event-item-${iwSosId}"][data-state="acknowledged"]`, { timeout: STEP_TIMEOUT });
    const info = await row.locator('[data-testid="event-ack-info"]').textContent();
    assert(/Acknowledged by admin/.test(info), `ack info ${info}`);
    assert((await row.locator('[data-testid="event-note"]').textContent()).includes(ackNote), 'note not shown as text');
    assert(!(await row.evaluate((el) => el.classList.contains('open'))), 'still highlighted as open');
    const ev = (await apiGet(page, `/api/events?deviceId=${iwId}&type=sos`)).find((e) => e.id === iwSosId);
    assert(ev.state === 'acknowledged' && ev.acknowledgedBy === 'admin' && ev.note === ackNote && ev.acknowledgedAt,
      `API: ${JSON.stringify(ev)}`);
    const again = await apiCall(page, 'POST', `/api/events/${iwSosId}/ack`, {});
    assert(again.status === 409, `a second acknowledge answered ${again.status}`);
    // The banner moves on to another open critical event, or goes.
    const bannerId = await page.getAttribute('[data-testid="alert-banner"]', 'data-event-id');
    assert(await page.isHidden('[data-testid="alert-banner"]') || Number(bannerId) !== iwSosId, 'banner still on the acknowledged SOS');
    assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
  });
  await closeDialogs(page);
  await shot(page, '20-inbox-acknowledged.png');
  await check('another operator acknowledges: the live feed updates the row', async () => {
    const gotopSos = (await apiGet(page, `/api/events?deviceId=${gotopId}&type=sos`)).find((e) => e.state === 'new');
    assert(gotopSos, 'no open SOS of the tracker');
    const r = await apiCall(page, 'POST', `/api/events/${gotopSos.id}/ack`, { note: 'on my way' });
    assert(r.status === 200 && r.body.state === 'acknowledged', `ack: ${r.status} ${JSON.stringify(r.body)}`);
    // Only the WebSocket can tell the page: the API call above did not go through the UI code.
    await page.waitForSelector(`[data-testid="event-item-${gotopSos.id}"][data-state="acknowledged"]`, { timeout: STEP_TIMEOUT });
    const rows = await page.locator(`[data-testid="event-item-${gotopSos.id}"]`).count();
    assert(rows === 1, `${rows} rows for the event`);
  });
  await check('close an acknowledged event', async () => {
    await page.click(`[data-testid="event-close-${iwSosId}"]`);
    await page.waitForSelector('[data-testid="ack-dialog"][data-mode="close"][open]', { timeout: STEP_TIMEOUT });
    await page.click('[data-testid="ack-submit"]');
    await page.waitForSelector(`[data-testid="event-item-${iwSosId}"][data-state="closed"]`, { timeout: STEP_TIMEOUT });
    const ev = (await apiGet(page, `/api/events?deviceId=${iwId}&type=sos`)).find((e) => e.id === iwSosId);
    assert(ev.state === 'closed' && ev.closedAt, `API: ${JSON.stringify(ev)}`);
    assert(await page.locator(`[data-testid="event-close-${iwSosId}"]`).count() === 0, 'a closed event still offers Close');
  });
  await check('a reminder of an open critical event sounds again and brings the banner back, no new row', async () => {
    const fall = (await apiGet(page, `/api/events?deviceId=${iwId}&type=fall`)).find((e) => e.state === 'new');
    assert(fall, 'no open fall');
    const rows = () => page.locator('[data-testid^="event-item-"]').count();
    const before = await rows();
    // Dismissed and checked in one go: a reminder may come any moment.
    const sounds = await page.evaluate(() => {
      document.querySelector('[data-testid="alert-dismiss"]').click();
      if (!document.querySelector('[data-testid="alert-banner"]').hidden) throw new Error('the banner did not go');
      return window.trackdUI.alarmSounds || 0;
    });
    await page.waitForSelector(`[data-testid="alert-banner"][data-event-id="${fall.id}"]:not([hidden])`,
      { timeout: (RENOTIFY_S * 2 + 4) * 1000 });
    assert(await page.evaluate((n) => (window.trackdUI.alarmSounds || 0) > n, sounds), 'no sound with the reminder');
    assert(await rows() === before, `${await rows()} rows, ${before} before`);
    assert(await page.locator(`[data-testid="event-item-${fall.id}"]`).count() === 1, 'fall row duplicated');
  });
  await closeDialogs(page);
  await check('edit the webhook channel: all event types, then delete it', async () => {
    const n = (await apiGet(page, '/api/notifications')).find((x) => x.channel === 'webhook');
    await clickTab(page, 'rules');
    await page.click('[data-testid="section-notifications"]');
    await page.click(`[data-testid="notification-edit-${n.id}"]`);
    await page.waitForSelector('[data-testid="notification-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await page.isChecked('[data-testid="notification-types-type-fall"]') &&
      !(await page.isChecked('[data-testid="notification-types-all"]')), 'form not filled in');
    await page.click('[data-testid="notification-types-all"]');
    await page.click('[data-testid="notification-form-save"]');
    await page.waitForSelector('[data-testid="notification-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    const edited = (await apiGet(page, '/api/notifications')).find((x) => x.id === n.id);
    assert(edited.eventTypes === null || edited.eventTypes === undefined, `eventTypes ${JSON.stringify(edited.eventTypes)}`);
    await page.waitForFunction((id) => /All events/.test(document.querySelector(`[data-testid="notification-item-${id}"] [data-testid="notification-types"]`)?.textContent || ''),
      n.id, { timeout: STEP_TIMEOUT });
    await page.click(`[data-testid="notification-delete-${n.id}"]`);
    await page.click('[data-testid="confirm-ok"]');
    await page.locator(`[data-testid="notification-item-${n.id}"]`).waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
    assert(!(await apiGet(page, '/api/notifications')).some((x) => x.id === n.id), 'channel still on the server');
    await clickTab(page, 'events');
  });
  await check('the tracker entering the drawn geofence raises geofenceEnter in the inbox', async () => {
    // Inside the polygon, after the SOS fix (outside) and before the fix of the restart check.
    const inside = {
      lat: polygonPts.reduce((a, p) => a + p.lat, 0) / polygonPts.length,
      lon: polygonPts.reduce((a, p) => a + p.lon, 0) / polygonPts.length,
    };
    await gotop.send(gotopFrame('CMD-T', new Date(now - 4.5 * 60e3), inside.lat, inside.lon, 12, 90, 79));
    const item = page.locator(`[data-testid^="event-item-"][data-type="geofenceEnter"][data-device-id="${gotopId}"]`).first();
    await item.waitFor({ timeout: STEP_TIMEOUT });
    const detail = await item.locator('[data-testid="event-detail"]').textContent();
    assert(detail === fenceName, `detail ${detail}`);
    assert(await item.getAttribute('data-state') === 'new', 'not open');
    await item.locator('[data-testid="event-type"]').click();
    await page.waitForFunction(() => /Geofence enter/.test(document.querySelector('[data-testid="focus-popup"]')?.textContent || ''),
      null, { timeout: STEP_TIMEOUT });
    await mapSettled(page);
    const c = await page.evaluate(() => window.trackdUI.map.getCenter());
    assert(near(c.lat, inside.lat, 1e-3) && near(c.lng, inside.lon, 1e-3), `map centre ${c.lat},${c.lng}`);
  });
  await sleep(300);
  await shot(page, '21-geofence-enter.png');
  await check('acknowledge the last open critical event from the banner: the banner goes', async () => {
    const id = Number(await page.getAttribute('[data-testid="alert-banner"]', 'data-event-id'));
    const ev = (await apiGet(page, `/api/events?deviceId=${iwId}&type=fall`)).find((e) => e.id === id);
    assert(ev && ev.state === 'new', `banner on event ${id}: ${JSON.stringify(ev)}`);
    await page.click('[data-testid="alert-ack"]');
    await page.waitForSelector(`[data-testid="ack-dialog"][data-event-id="${id}"][open]`, { timeout: STEP_TIMEOUT });
    await page.click('[data-testid="ack-submit"]');
    await page.waitForSelector('[data-testid="alert-banner"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await page.waitForSelector(`[data-testid="event-item-${id}"][data-state="acknowledged"]`, { timeout: STEP_TIMEOUT });
    const after = (await apiGet(page, `/api/events?deviceId=${iwId}&type=fall`)).find((e) => e.id === id);
    assert(after.state === 'acknowledged' && after.acknowledgedBy === 'admin' && after.note === null, `API: ${JSON.stringify(after)}`);
  });
  await closeDialogs(page);

  // 11. Commands and voice messages (3G watch) ---------------------------------------------
  const watch = new Device(devicePort);
  let watchId = null;
  await check('a 3G watch logs in: the device panel offers its quick commands', async () => {
    await watch.connect();
    await watch.send(`[3G*${WATCH_ID}*0002*LK]`);
    watchId = await deviceId(page, WATCH_ID);
    await page.waitForFunction((id) => window.trackdUI.state.devices.get(id)?.protocol === 'watch', watchId, { timeout: STEP_TIMEOUT });
    await clickTab(page, 'devices');
    await page.click(`[data-testid="device-item-${watchId}"] [data-testid="device-name"]`, { timeout: STEP_TIMEOUT });
    await page.waitForSelector(`[data-testid="device-panel"][data-device-id="${watchId}"]:not([hidden])`, { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="dp-quick-positionSingle"]', { timeout: STEP_TIMEOUT });
    const types = await apiGet(page, `/api/devices/${watchId}/commands/types`);
    const offered = await page.$$eval('[data-testid="dp-actions"] [data-cmd]', (bs) => bs.map((b) => b.dataset.cmd));
    const quick = ['positionSingle', 'voiceMonitoring', 'sosNumber'].filter((t) => types.some((x) => x.type === t));
    assert(JSON.stringify(offered) === JSON.stringify([...quick, 'pane']), `panel offers ${offered}, the watch takes ${types.map((t) => t.type)}`);
    return `types ${types.map((t) => t.type).join(', ')}`;
  });

  /** Records every data-status a command row shows, in the page (rows are redrawn on updates). */
  const watchStatuses = () => page.evaluate(() => {
    window.__cmdStatus = {};
    const seen = () => {
      for (const li of document.querySelectorAll('[data-testid="command-list"] [data-command-id]')) {
        const list = (window.__cmdStatus[li.dataset.commandId] ||= []);
        if (list[list.length - 1] !== li.dataset.status) list.push(li.dataset.status);
      }
    };
    seen();
    new MutationObserver(seen).observe(document.querySelector('[data-testid="command-list"]'),
      { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
  const statusesOf = (id) => page.evaluate((id) => window.__cmdStatus[id] || [], id);

  await check('send "Locate now" from the command dialog: queued/sent, then acknowledged live when the watch answers', async () => {
    await page.click('[data-testid="dp-commands"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="pane-commands"]:not([hidden])', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="commands-device"]') === String(watchId), 'pane not on the watch');
    await page.waitForSelector('[data-testid="command-empty"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await watchStatuses();
    await page.click('[data-testid="command-new"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector(`[data-testid="command-dialog"][data-device-id="${watchId}"][open]`, { timeout: STEP_TIMEOUT });
    const labels = await page.$$eval('[data-testid="command-form-type"] option', (os) => os.map((o) => [o.value, o.textContent]));
    const types = await apiGet(page, `/api/devices/${watchId}/commands/types`);
    assert(JSON.stringify(labels) === JSON.stringify(types.map((t) => [t.type, t.label])), `offered ${JSON.stringify(labels)}`);
    await page.selectOption('[data-testid="command-form-type"]', 'positionSingle');
    await shot(page, '24-command-dialog.png');
    const before = watch.received.split('*CR]').length - 1;
    await page.click('[data-testid="command-form-send"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await watch.waitFor(`[3G*${WATCH_ID}*0002*CR]`, before + 1);
    const row = page.locator('[data-testid^="command-item-"][data-type="positionSingle"]').first();
    await row.waitFor({ timeout: STEP_TIMEOUT });
    const id = Number(await row.getAttribute('data-command-id'));
    const early = await statusesOf(id);
    assert(early.length && ['queued', 'sent'].includes(early[0]) && !early.includes('acknowledged'),
      `before the answer the row showed ${early.join(' → ')}`);
    await watch.send(`[3G*${WATCH_ID}*0002*CR]`);
    await page.waitForSelector(`[data-testid="command-item-${id}"][data-status="acknowledged"]`, { timeout: STEP_TIMEOUT });
    const seen = await statusesOf(id);
    const c = (await apiGet(page, `/api/commands?deviceId=${watchId}`)).find((x) => x.id === id);
    assert(c && c.status === 'acknowledged' && c.user === 'admin' && c.sentAt && c.ackedAt, `API: ${JSON.stringify(c)}`);
    assert(await page.textContent(`[data-testid="command-item-${id}"] [data-testid="command-user"]`) === 'admin', 'user not shown');
    assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    return `row showed ${seen.join(' → ')}`;
  });
  await check('"Locate now" from the device panel is sent at once and acknowledged', async () => {
    const before = watch.received.split('*CR]').length - 1;
    await page.click('[data-testid="dp-quick-positionSingle"]', { timeout: STEP_TIMEOUT });
    await watch.waitFor(`[3G*${WATCH_ID}*0002*CR]`, before + 1);
    assert(await page.locator('[data-testid="command-dialog"][open]').count() === 0, 'a dialog asked for something');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="command-item-"][data-type="positionSingle"]').length === 2,
      null, { timeout: STEP_TIMEOUT });
    await watch.send(`[3G*${WATCH_ID}*0002*CR]`);
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid^="command-item-"][data-type="positionSingle"]')]
      .every((li) => li.dataset.status === 'acknowledged'), null, { timeout: STEP_TIMEOUT });
    await page.waitForFunction(() => /acknowledged/.test(document.querySelector('[data-testid="toast"]')?.textContent || ''),
      null, { timeout: STEP_TIMEOUT });
  });
  await shot(page, '25-command-history.png');
  await check('SOS numbers with a bad phone number: the server\'s refusal is shown in the form, nothing is sent', async () => {
    await page.click('[data-testid="commands-quick-sosNumber"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="command-form-type"]') === 'sosNumber', 'dialog not on SOS numbers');
    const phones = page.locator('[data-testid="command-fields"] input[data-kind="phone"]');
    assert(await phones.count() >= 1, 'no phone field');
    // Other required fields get a valid value: the smallest one allowed.
    for (const el of await page.locator('[data-testid="command-fields"] input[data-kind="integer"]').all()) {
      if (!(await el.inputValue())) await el.fill((await el.getAttribute('min')) || '1');
    }
    for (const el of await page.locator('[data-testid="command-fields"] input[data-kind="text"]').all()) {
      if (await el.getAttribute('required') !== null && !(await el.inputValue())) await el.fill('x');
    }
    await phones.first().fill('12ab34');
    const sent = watch.received.length;
    const answer = page.waitForResponse((res) => res.url().endsWith('/api/commands') && res.request().method() === 'POST',
      { timeout: STEP_TIMEOUT });
    await page.click('[data-testid="command-form-send"]', { timeout: STEP_TIMEOUT });
    const res = await answer;
    assert(res.status() === 400, `POST /api/commands answered ${res.status()}`);
    const body = await res.json();
    await page.waitForSelector('[data-testid="command-form-error"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const msg = await page.textContent('[data-testid="command-form-error"]');
    assert(msg === body.error && /phone|number|digit/i.test(msg), `form says “${msg}”, server said “${body.error}”`);
    assert(await page.locator('[data-testid="command-dialog"][open]').count() === 1, 'dialog closed');
    await shot(page, '26-command-error.png');
    await page.click('[data-testid="command-form-cancel"]', { timeout: STEP_TIMEOUT });
    const list = await apiGet(page, `/api/commands?deviceId=${watchId}`);
    assert(!list.some((c) => c.type === 'sosNumber'), 'an sosNumber command was stored');
    await sleep(200);
    assert(watch.received.length === sent, `the watch got ${JSON.stringify(watch.received.slice(sent))}`);
    return `“${msg}”`;
  });
  await closeDialogs(page);
  await check('"Listen in" asks for the number to call, sends it, and offers it again next time', async () => {
    const phone = '+441234567890';
    await page.click('[data-testid="commands-quick-voiceMonitoring"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="command-form-type"]') === 'voiceMonitoring', 'dialog not on Listen in');
    const field = page.locator('[data-testid="command-fields"] input[data-kind="phone"]');
    await field.fill(phone);
    await page.click('[data-testid="command-form-send"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await watch.waitFor(`MONITOR,${phone}]`);
    const row = page.locator('[data-testid^="command-item-"][data-type="voiceMonitoring"]').first();
    await row.waitFor({ timeout: STEP_TIMEOUT });
    assert((await row.locator('[data-testid="command-attributes"]').textContent()).includes(phone), 'number not in the history');
    await watch.send(`[3G*${WATCH_ID}*0007*MONITOR]`);
    await page.waitForSelector(`[data-testid="command-item-${await row.getAttribute('data-command-id')}"][data-status="acknowledged"]`,
      { timeout: STEP_TIMEOUT });
    await page.click('[data-testid="commands-quick-voiceMonitoring"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await field.inputValue() === phone, `offered ${await field.inputValue()}`);
    await page.click('[data-testid="command-form-cancel"]', { timeout: STEP_TIMEOUT });
  });
  await closeDialogs(page);
  const amr = existsSync(VOICE_AMR) ? readFileSync(VOICE_AMR) : null;
  await check('a voice message from the watch appears in the voice list live and its audio loads', async () => {
    assert(amr, `${VOICE_AMR} is missing`);
    const before = await page.locator('[data-testid^="voice-item-"]').count();
    const replies = watch.received.split('*TK,1]').length - 1;
    await watch.send(watchFrame('TK', amr));
    await watch.waitFor('*TK,1]', replies + 1);
    const item = page.locator('[data-testid^="voice-item-"][data-direction="in"]').first();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid^="voice-item-"]').length === n + 1, before,
      { timeout: STEP_TIMEOUT });
    const id = Number(await item.getAttribute('data-voice-id'));
    const v = (await apiGet(page, `/api/voice?deviceId=${watchId}`)).find((x) => x.id === id);
    assert(v && v.direction === 'in' && v.durationMs > 0, `API: ${JSON.stringify(v)}`);
    const duration = await item.locator('audio').evaluate((el, timeout) => new Promise((resolve, reject) => {
      if (el.readyState >= 1) { resolve(el.duration); return; }
      const t = setTimeout(() => reject(new Error(`no loadedmetadata (networkState ${el.networkState}, error ${el.error?.code})`)), timeout);
      el.addEventListener('loadedmetadata', () => { clearTimeout(t); resolve(el.duration); }, { once: true });
      el.addEventListener('error', () => { clearTimeout(t); reject(new Error(`audio error ${el.error?.code} ${el.error?.message}`)); }, { once: true });
      el.load();
    }), STEP_TIMEOUT);
    assert(duration > 0 && Math.abs(duration * 1000 - v.durationMs) < 250, `audio duration ${duration} s, API ${v.durationMs} ms`);
    const src = await item.locator('audio').getAttribute('src');
    assert(src === `/api/voice/${id}/audio`, `audio src ${src}`);
    const ev = (await apiGet(page, `/api/events?deviceId=${watchId}&type=voiceMessage`)).find((e) => e.attributes?.voiceId === id);
    assert(ev, 'no voiceMessage event with this voiceId');
    assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    return `${duration.toFixed(2)} s played from WAV, ${amr.length} AMR bytes`;
  });
  await check('send a clip to the watch: uploaded, sent as a voice message, listed as outgoing', async () => {
    assert(amr, `${VOICE_AMR} is missing`);
    await page.click('[data-testid="voice-send"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"][open]', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="command-form-type"]') === 'voiceMessage', 'dialog not on the voice message');
    await page.setInputFiles('[data-testid="command-fields"] input[data-kind="voice"]', VOICE_AMR);
    const frames = watch.received.split('*TK,').length - 1;
    await page.click('[data-testid="command-form-send"]', { timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="command-dialog"]', { state: 'hidden', timeout: STEP_TIMEOUT });
    await watch.waitFor('*TK,', frames + 1);
    await page.waitForSelector('[data-testid^="voice-item-"][data-direction="out"]', { timeout: STEP_TIMEOUT });
    const row = page.locator('[data-testid^="command-item-"][data-type="voiceMessage"]').first();
    await row.waitFor({ timeout: STEP_TIMEOUT });
    const id = Number(await row.getAttribute('data-command-id'));
    await watch.send(`[3G*${WATCH_ID}*0004*TK,1]`);
    await page.waitForSelector(`[data-testid="command-item-${id}"][data-status="acknowledged"]`, { timeout: STEP_TIMEOUT });
  });
  await check('the voice message is in the inbox and its Listen button opens the watch\'s voice list', async () => {
    await clickTab(page, 'events');
    const item = page.locator(`[data-testid^="event-item-"][data-type="voiceMessage"][data-device-id="${watchId}"]`).first();
    await item.waitFor({ timeout: STEP_TIMEOUT });
    await item.locator('[data-action="voice"]').click({ timeout: STEP_TIMEOUT });
    await page.waitForSelector('[data-testid="pane-commands"]:not([hidden])', { timeout: STEP_TIMEOUT });
    assert(await page.inputValue('[data-testid="commands-device"]') === String(watchId), 'not the watch');
    await page.waitForSelector('[data-testid^="voice-item-"][data-direction="in"]', { timeout: STEP_TIMEOUT });
  });
  await sleep(200);
  await shot(page, '27-voice-messages.png');
  await check('phone layout: the watch\'s commands and voice messages', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
      storageState: await context.storageState(),
    });
    await phone.route((url) => !url.href.startsWith(base), offline);
    const p = await phone.newPage();
    p.on('pageerror', (err) => pageErrors.push(`phone: ${err.message}`));
    await p.goto(base + '/', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid="app"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await p.click('[data-testid="tab-devices"]', { timeout: STEP_TIMEOUT });
    await p.click(`[data-testid="device-item-${watchId}"] [data-testid="device-name"]`, { timeout: STEP_TIMEOUT });
    await p.click('[data-testid="dp-commands"]', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid="pane-commands"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid^="command-item-"]', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid^="voice-item-"]', { timeout: STEP_TIMEOUT });
    assert(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the pane scrolls sideways');
    assert(await p.locator('[data-testid="tab-devices"]').evaluate((b) => b.classList.contains('active')), 'Devices tab not marked');
    await shot(p, '28-phone-commands.png');
    await phone.close();
  });
  await closeDialogs(page);
  watch.close();

  // 12. Phone-sized screen -----------------------------------------------------------------
  await check('phone layout: map and device list', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
      storageState: await context.storageState(),
    });
    await phone.route((url) => !url.href.startsWith(base), offline);
    const p = await phone.newPage();
    p.on('pageerror', (err) => pageErrors.push(`phone: ${err.message}`));
    await p.goto(base + '/', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid="app"]:not([hidden])', { timeout: STEP_TIMEOUT });
    await p.waitForSelector(`[data-testid="marker-${gotopId}"]`, { timeout: STEP_TIMEOUT });
    await p.evaluate(() => {
      const pts = [...window.trackdUI.state.lastFix.values()].map((q) => [q.latitude, q.longitude]);
      window.trackdUI.map.fitBounds(pts, { padding: [60, 60] });
    });
    await sleep(400);
    const mapBox = await p.locator('[data-testid="map"]').boundingBox();
    assert(mapBox && mapBox.width >= 380 && mapBox.height > 400, `map box ${JSON.stringify(mapBox)}`);
    assert(await p.locator('[data-testid="tabs"]').isVisible(), 'tab bar hidden');
    const noScroll = await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert(noScroll, 'page scrolls sideways');
    await shot(p, '10-phone-map.png');
    await p.click('[data-testid="tab-devices"]');
    await p.waitForSelector(`[data-testid="device-item-${iwId}"]`, { state: 'visible', timeout: STEP_TIMEOUT });
    const listBox = await p.locator('[data-testid="device-list"]').boundingBox();
    assert(listBox && listBox.width >= 340, `list box ${JSON.stringify(listBox)}`);
    await shot(p, '11-phone-list.png');
    // Choosing a device brings the map back with its panel.
    await p.click(`[data-testid="device-item-${iwId}"] [data-testid="device-name"]`);
    await p.waitForSelector('[data-testid="device-panel"]:not([hidden])', { timeout: STEP_TIMEOUT });
    assert(await p.locator('[data-testid="map"]').isVisible(), 'map not shown after choosing a device');
    await shot(p, '12-phone-panel.png');
    await phone.close();
  });
  await check('phone layout: inbox, rules, and drawing a geofence with taps', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
      storageState: await context.storageState(),
    });
    await phone.route((url) => !url.href.startsWith(base), offline);
    const p = await phone.newPage();
    p.on('pageerror', (err) => pageErrors.push(`phone: ${err.message}`));
    // The inbox asks for every open event, newest first, besides the last 24 h.
    const openList = p.waitForResponse((res) => /\/api\/events\?.*state=new/.test(res.url()) && /order=desc/.test(res.url()),
      { timeout: STEP_TIMEOUT });
    await p.goto(base + '/', { timeout: STEP_TIMEOUT });
    await p.waitForSelector('[data-testid="app"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const openRes = await openList;
    assert(openRes.status() === 200, `GET ${openRes.url()}: ${openRes.status()}`);
    const openRows = await openRes.json();
    assert(openRows.length > 0 && openRows.every((e) => e.state === 'new'), `open list ${JSON.stringify(openRows.map((e) => e.state))}`);
    assert(openRows.every((e, i) => i === 0 || Date.parse(openRows[i - 1].time) >= Date.parse(e.time)), 'open list not newest first');
    await p.click('[data-testid="tab-events"]');
    await p.waitForSelector(`[data-testid="event-item-${iwSosId}"]`, { state: 'visible', timeout: STEP_TIMEOUT });
    const wide = async () => p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert(await wide(), 'inbox scrolls sideways');
    await shot(p, '22-phone-inbox.png');
    await p.click('[data-testid="tab-rules"]');
    await p.click('[data-testid="section-geofences"]');
    await p.waitForSelector(`[data-testid="geofence-item-${polygonId}"]`, { state: 'visible', timeout: STEP_TIMEOUT });
    assert(await wide(), 'rules pane scrolls sideways');
    await p.click('[data-testid="geofence-add"]');
    await p.click('[data-testid="geofence-draw-polygon"]');
    // The map comes up with the drawing bar; three taps and Finish.
    await p.waitForSelector('[data-testid="draw-bar"]:not([hidden])', { timeout: STEP_TIMEOUT });
    assert(await p.locator('[data-testid="map"]').isVisible(), 'map not shown for drawing');
    const pts = await mapPoints(p, [[-100, -80], [100, -60], [0, 120]]);
    for (const q of pts) {
      await p.touchscreen.tap(q.x, q.y);
      await sleep(350); // not a double tap
    }
    await shot(p, '23-phone-drawing.png');
    await p.click('[data-testid="draw-finish"]');
    await p.waitForSelector('[data-testid="geofence-editor"]:not([hidden])', { state: 'visible', timeout: STEP_TIMEOUT });
    const area = await p.textContent('[data-testid="geofence-area"]');
    assert(/Polygon, 3 corners/.test(area), `area ${area}`);
    await p.click('[data-testid="geofence-form-cancel"]');
    await phone.close();
  });

  // 13. Server restart: the page reconnects by itself ----------------------------------
  await check('after a server restart the page reconnects and shows new data', async () => {
    const started = Date.now();
    gotop.close();
    await stopProcess();
    await page.waitForSelector('[data-testid="ws-status"]:not([data-state="open"])', { timeout: STEP_TIMEOUT });
    await startServer(devicePort, httpPort);
    // Either the session survived the restart and the socket comes back, or
    // the page asks for a new login; both must end with a live socket.
    await page.waitForSelector('[data-testid="ws-status"][data-state="open"], [data-testid="login-view"]:not([hidden])',
      { timeout: 20000 });
    let relogin = false;
    if (await page.isVisible('[data-testid="login-view"]')) {
      relogin = true;
      await page.fill('[data-testid="login-user"]', 'admin');
      await page.fill('[data-testid="login-password"]', SECRET);
      await page.click('[data-testid="login-submit"]');
      await page.waitForSelector('[data-testid="ws-status"][data-state="open"]', { timeout: STEP_TIMEOUT });
    }
    const again = new Device(devicePort);
    await again.connect();
    const fix = { t: new Date(now - 3 * 60e3), lat: 3.1531, lon: 101.6972, speed: 5, course: 50 };
    const arrival = markerArrival(page, gotopId, fix.lat);
    await again.send(gotopFrame('CMD-T', fix.t, fix.lat, fix.lon, fix.speed, fix.course, 78));
    await arrival;
    again.close();
    return `${relogin ? 'session lost, logged in again' : 'same session'}; ${Date.now() - started} ms`;
  });

  // 14. Logout -------------------------------------------------------------------------------
  await check('log out returns to the login page', async () => {
    await page.click('[data-testid="logout"]');
    await page.waitForSelector('[data-testid="login-view"]:not([hidden])', { timeout: STEP_TIMEOUT });
    const status = await page.evaluate(async () => (await fetch('/api/session')).status);
    assert(status === 401, `GET /api/session after logout: ${status}`);
  });
  await shot(page, '13-logout.png');

  await check('no JavaScript errors in the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
    return `${refused} requests to other hosts (map tiles) refused`;
  });

  gotop.close();
  iw.close();
}

try {
  await main();
} catch (err) {
  fail('run', err);
} finally {
  await cleanup();
  clearTimeout(guard);
}
if (failed) {
  try {
    const log = readFileSync(path.join(ARTIFACTS, 'trackd.log'), 'utf8').trimEnd().split('\n');
    console.log(`--- last lines of ${path.join(ARTIFACTS, 'trackd.log')}:`);
    console.log(log.slice(-15).join('\n'));
  } catch { /* no log */ }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
