// trackd web UI entry point: login, layout/tabs, live socket, and wiring of
// the views (map, devices, commands and voice, alerts, history, health, rules).

import './style.css';
import { api, ApiError, onUnauthorized } from './api.js';
import {
  state, setDevices, mergeDevices, mergePositions, mergeEvents, mergeCommands, rememberPositions, select,
} from './state.js';
import { LiveSocket } from './socket.js';
import { initMap, setTiles, fitAllOnce, invalidate } from './map.js';
import { initDevices } from './devices.js';
import {
  initEvents, loadEvents, refreshEvents, markSeen, unlockAudio,
} from './events.js';
import { initHistory, prepareHistory, history } from './history.js';
import { initHealth, prepareHealth, onShown as healthShown, health } from './health.js';
import { initDraw } from './draw.js';
import { initGeofences, loadGeofences } from './geofences.js';
import { initRules, loadRules } from './rules.js';
import { initNotifications, loadNotifications } from './notifications.js';
import { initCommands, prepareCommands, refreshCommands } from './commands.js';
import { $, $$, toast } from './util.js';

const NARROW = window.matchMedia('(max-width: 768px)');
const LOGIN_MESSAGE_KEY = 'trackd.loginMessage';
let pane = 'devices'; // sidebar pane shown
let section = 'rules'; // part of the rules pane shown: rules, geofences or notifications
let started = false;

const socket = new LiveSocket({
  message(msg) {
    if (Array.isArray(msg.devices)) mergeDevices(msg.devices);
    if (Array.isArray(msg.positions)) mergePositions(msg.positions);
    if (Array.isArray(msg.events)) mergeEvents(msg.events, true);
    if (Array.isArray(msg.commands)) mergeCommands(msg.commands);
    fitAllOnce();
  },
  async open(reconnect) {
    if (!reconnect) return;
    // Something may have been missed while the socket was down.
    try {
      setDevices(await api.devices());
      await refreshEvents();
      refreshCommands();
      backfillFixes();
    } catch { /* the next messages will bring us up to date */ }
  },
  status(s) {
    const el = $('#ws-status');
    el.dataset.state = s;
    el.textContent = { open: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', closed: 'offline' }[s] || s;
  },
  async closed() {
    try {
      await api.session();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        backToLogin('Your session has ended. Please log in again.');
        return false;
      }
      return true; // server down: keep trying
    }
  },
});

// --- layout -------------------------------------------------------------------

/** The tab a pane belongs to: a device's commands are part of the devices tab. */
const tabOf = (p) => (p === 'commands' ? 'devices' : p);

/** Show a tab. On wide screens the map is always visible next to the sidebar. */
function showTab(name) {
  if (name !== 'map') pane = name;
  document.body.dataset.tab = name;
  document.body.dataset.pane = pane;
  for (const p of $$('.pane')) p.hidden = p.dataset.pane !== pane;
  for (const b of $$('#tabs [data-tab]')) {
    const active = b.dataset.tab === tabOf(name) || (!NARROW.matches && b.dataset.tab === tabOf(pane));
    b.classList.toggle('active', active);
    b.setAttribute('aria-selected', active ? 'true' : 'false');
  }
  if (pane === 'events') markSeen();
  if (pane === 'history') prepareHistory(null);
  if (pane === 'health') {
    prepareHealth(null);
    setTimeout(healthShown, 0);
  }
  if (name === 'rules') refreshSection();
  invalidate();
}

/** Shows one part of the rules pane. */
function showSection(name, refresh = true) {
  section = name;
  for (const s of $$('#pane-rules .section')) s.hidden = s.dataset.section !== name;
  for (const b of $$('#rules-sections [data-section]')) {
    b.classList.toggle('active', b.dataset.section === name);
    b.setAttribute('aria-selected', b.dataset.section === name ? 'true' : 'false');
  }
  if (refresh) refreshSection();
}

/** Lists may have been changed elsewhere (another operator): fetch the one shown. */
function refreshSection() {
  if (section === 'rules') loadRules();
  else if (section === 'geofences') loadGeofences();
  else loadNotifications();
}

/** The commands and voice messages of a device, in the sidebar. */
function openCommands(id, focus) {
  showTab('commands');
  prepareCommands(id, { focus });
}

/** Make sure the map is on screen (phones show either the map or a list). */
function showMap() {
  if (NARROW.matches) showTab('map');
  invalidate();
}

function initLayout() {
  $('#tabs').addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-tab]');
    if (b) showTab(b.dataset.tab);
  });
  NARROW.addEventListener('change', () => showTab(NARROW.matches ? 'map' : pane));
  $('#rules-sections').addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-section]');
    if (b) showSection(b.dataset.section);
  });
  showTab(NARROW.matches ? 'map' : 'devices');
}

// --- login / logout -----------------------------------------------------------

function showLogin(message) {
  $('#app').hidden = true;
  $('#login-view').hidden = false;
  const err = $('#login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('#login-user').focus();
}

function backToLogin(message) {
  socket.stop();
  if (message) sessionStorage.setItem(LOGIN_MESSAGE_KEY, message);
  // A fresh page drops every piece of state of the previous session.
  location.reload();
}

async function onLogin(ev) {
  ev.preventDefault();
  unlockAudio();
  const user = $('#login-user').value.trim();
  const password = $('#login-password').value;
  const err = $('#login-error');
  const btn = $('#login-submit');
  btn.disabled = true;
  err.hidden = true;
  try {
    const u = await api.login(user, password);
    $('#login-password').value = '';
    await startApp(u);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) err.textContent = 'Wrong user name or password.';
    else if (e instanceof ApiError && e.status === 429) err.textContent = 'Too many attempts. Wait a minute and try again.';
    else err.textContent = e.message || 'Login failed.';
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function onLogout() {
  socket.stop();
  try { await api.logout(); } catch { /* the cookie may be gone already */ }
  backToLogin('');
}

// --- app ---------------------------------------------------------------------

/**
 * A device's newest record may be a status record (health reading,
 * heartbeat) repeated at the last fix, without speed or course and newer than
 * the fix. Look back a little for the real position so the marker shows the
 * fix's direction and age. Best effort, a few devices at a time.
 */
async function backfillFixes() {
  const todo = [...state.devices.values()]
    .filter((d) => d.lastPosition && d.lastPosition.type !== 'position' && state.lastFix.get(d.id)?.type !== 'position')
    .slice(0, 200);
  const worker = async () => {
    for (let d = todo.shift(); d; d = todo.shift()) {
      const to = Date.parse(d.lastPosition.time);
      if (!Number.isFinite(to)) continue;
      try {
        const rows = await api.positions({
          deviceId: d.id,
          from: new Date(to - 6 * 3600e3).toISOString(),
          to: new Date(to + 1000).toISOString(),
          limit: 2000,
        });
        rememberPositions((rows || []).filter((p) => p.type === 'position'));
      } catch { /* keep what we have */ }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

async function startApp(user) {
  state.user = user;
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  $('#user-name').textContent = user.name + (user.admin ? ' (admin)' : '');
  if (!started) {
    started = true;
    initLayout();
    window.trackdUI.map = initMap($('#map'));
    setTiles(state.server?.tileUrl, state.server?.tileAttribution);
    initDraw();
    initDevices({
      onOpenHistory: (id) => { showTab('history'); prepareHistory(id); },
      onOpenHealth: (id) => { showTab('health'); prepareHealth(id); },
    });
    initEvents({ onShowOnMap: showMap, onOpenVoice: (id) => openCommands(id, 'voice') });
    initHistory();
    initHealth();
    initGeofences({
      showMap,
      showPane: () => { if (NARROW.matches) showTab('rules'); },
    });
    initRules();
    initNotifications();
    initCommands({ open: (id) => openCommands(id) });
    $('#commands-back').addEventListener('click', () => showTab('devices'));
    showSection(section, false);
    // Selecting a device in the list on a phone brings the map up.
    $('#device-list').addEventListener('click', (ev) => {
      if (!ev.target.closest('button') && ev.target.closest('li[data-device-id]')) showMap();
    });
  }
  invalidate();
  try {
    setDevices(await api.devices());
    fitAllOnce();
    backfillFixes();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) toast(`Could not load devices: ${e.message}`, 'error');
  }
  loadEvents().catch((e) => toast(`Could not load events: ${e.message}`, 'error'));
  loadGeofences(); // shapes on the map, names in events and rules
  socket.start();
}

async function boot() {
  // Read-only view of the UI state for tests and debugging.
  window.trackdUI = { state, history, health, select, map: null, version: null, ready: false };
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout-btn').addEventListener('click', onLogout);
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  onUnauthorized(() => backToLogin('Your session has ended. Please log in again.'));

  try {
    state.server = await api.server();
    window.trackdUI.version = state.server?.version;
    $('#server-version').textContent = state.server?.version ? `trackd ${state.server.version}` : '';
  } catch {
    state.server = null;
  }

  const message = sessionStorage.getItem(LOGIN_MESSAGE_KEY);
  sessionStorage.removeItem(LOGIN_MESSAGE_KEY);
  try {
    const user = await api.session();
    await startApp(user);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showLogin(message);
    else showLogin(e.message || 'The server cannot be reached.');
  }
  window.trackdUI.ready = true;
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
