// History: load every page of GET /api/positions for a device and time
// range, draw the track, and replay it with a timeline slider.

import { api, fetchAll } from './api.js';
import { state, on } from './state.js';
import { getMap, fitPadding, L } from './map.js';
import {
  $, escapeHtml, fmtTime, fmtCoord, fmtNum, toLocalInput, fromLocalInput, hasFix,
} from './util.js';

const BASE_RATE = 2; // points per second at 1x

export const history = {
  points: [], // records drawn, ascending by time
  index: 0,
  playing: false,
  deviceId: null,
};

let layer = null; // L.LayerGroup with the polyline and the playback marker
let line = null;
let marker = null;
let timer = 0;

export function fillDeviceSelect(select, preferred) {
  const current = preferred ?? (select.value ? Number(select.value) : null);
  const devices = [...state.devices.values()].sort((a, b) =>
    (a.name || a.uniqueId || '').localeCompare(b.name || b.uniqueId || ''));
  select.innerHTML = devices.map((d) =>
    `<option value="${d.id}">${escapeHtml(d.name || d.uniqueId)} (${escapeHtml(d.uniqueId)})</option>`).join('');
  if (current != null && state.devices.has(current)) select.value = String(current);
}

/**
 * Default period: the last 24 h. Until the user edits the inputs, the period
 * follows the clock (it is set again each time the pane is used).
 */
export function defaultRange(fromInput, toInput) {
  for (const input of [fromInput, toInput]) {
    input.dataset.auto = 'true';
    input.addEventListener('input', () => {
      fromInput.dataset.auto = 'false';
      toInput.dataset.auto = 'false';
    });
  }
  refreshRange(fromInput, toInput);
}

export function refreshRange(fromInput, toInput) {
  if (fromInput.dataset.auto !== 'true' || toInput.dataset.auto !== 'true') return;
  const now = Date.now();
  fromInput.value = toLocalInput(new Date(now - 24 * 3600e3));
  toInput.value = toLocalInput(new Date(now + 60e3));
}

export function initHistory() {
  const form = $('#history-form');
  const sel = $('#history-device');
  defaultRange($('#history-from'), $('#history-to'));
  fillDeviceSelect(sel);
  on('devices', () => fillDeviceSelect(sel));
  on('device-removed', () => fillDeviceSelect(sel));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  form.addEventListener('input', updateExports);
  form.addEventListener('change', updateExports);
  $('#history-slider').addEventListener('input', (ev) => {
    pause();
    setIndex(Number(ev.target.value));
  });
  $('#history-play').addEventListener('click', () => (history.playing ? pause() : play()));
  $('#history-clear').addEventListener('click', clear);
  updateExports();
}

/** Open the history pane for a device (from the device panel). */
export function prepareHistory(deviceId) {
  if (deviceId != null) fillDeviceSelect($('#history-device'), deviceId);
  refreshRange($('#history-from'), $('#history-to'));
  updateExports();
}

function range() {
  return {
    deviceId: $('#history-device').value,
    from: fromLocalInput($('#history-from').value),
    to: fromLocalInput($('#history-to').value),
  };
}

function updateExports() {
  const r = range();
  for (const format of ['gpx', 'kml', 'csv']) {
    const a = $(`#export-${format}`);
    const ok = r.deviceId && r.from && r.to;
    a.href = ok ? api.exportUrl({ ...r, format }) : '#';
    a.classList.toggle('disabled', !ok);
    a.setAttribute('aria-disabled', ok ? 'false' : 'true');
  }
}

export async function load() {
  refreshRange($('#history-from'), $('#history-to'));
  updateExports();
  const r = range();
  const status = $('#history-status');
  if (!r.deviceId || !r.from || !r.to) {
    status.textContent = 'Choose a device and a time range.';
    return;
  }
  if (r.from >= r.to) {
    status.textContent = '“From” must be before “To”.';
    return;
  }
  status.textContent = 'Loading…';
  status.dataset.state = 'loading';
  $('#history-load').disabled = true;
  try {
    const rows = await fetchAll(api.positions, { deviceId: r.deviceId, from: r.from, to: r.to },
      { limit: 10000, maxPages: 50 });
    const withFix = rows.filter(hasFix);
    // Status records are placed at the last known fix: draw real position
    // records when there are any.
    const moving = withFix.filter((p) => p.type === 'position');
    draw(Number(r.deviceId), moving.length ? moving : withFix);
    status.textContent = `${history.points.length} positions (${rows.length} records)`;
    status.dataset.state = 'loaded';
  } catch (e) {
    status.textContent = `Could not load the history: ${e.message}`;
    status.dataset.state = 'error';
  } finally {
    $('#history-load').disabled = false;
  }
}

function playbackIcon(course) {
  const rot = typeof course === 'number' ? course : 0;
  return L.divIcon({
    className: 'pb-icon',
    html: `<div class="pb" data-testid="playback-marker"><svg viewBox="0 0 24 24" style="transform:rotate(${rot}deg)"><path d="M12 2 L19.5 20.5 L12 16.2 L4.5 20.5 Z"/></svg></div>`,
    iconSize: [26, 26],
    iconAnchor: [13, 13],
  });
}

function draw(deviceId, points) {
  clearLayer();
  history.points = points;
  history.deviceId = deviceId;
  history.index = 0;
  const map = getMap();
  const box = $('#history-playback');
  if (!points.length) {
    box.hidden = true;
    return;
  }
  const latlngs = points.map((p) => [p.latitude, p.longitude]);
  layer = L.layerGroup().addTo(map);
  line = L.polyline(latlngs, { color: '#1c5fd4', weight: 4, opacity: 0.8, pane: 'track', className: 'history-track' })
    .addTo(layer);
  L.circleMarker(latlngs[0], { radius: 6, color: '#0a7d32', fillOpacity: 1, pane: 'track' })
    .bindTooltip(`Start ${fmtTime(points[0].time)}`).addTo(layer);
  L.circleMarker(latlngs[latlngs.length - 1], { radius: 6, color: '#b00020', fillOpacity: 1, pane: 'track' })
    .bindTooltip(`End ${fmtTime(points[points.length - 1].time)}`).addTo(layer);
  marker = L.marker(latlngs[0], { icon: playbackIcon(points[0].course), zIndexOffset: 1000, keyboard: false })
    .addTo(layer);
  if (latlngs.length === 1) map.setView(latlngs[0], 16);
  else map.fitBounds(line.getBounds(), { ...fitPadding(30), maxZoom: 17 });

  const slider = $('#history-slider');
  slider.max = String(points.length - 1);
  slider.value = '0';
  box.hidden = false;
  setIndex(0);
}

export function setIndex(i) {
  const pts = history.points;
  if (!pts.length) return;
  const idx = Math.max(0, Math.min(pts.length - 1, i | 0));
  history.index = idx;
  const p = pts[idx];
  if (marker) {
    marker.setLatLng([p.latitude, p.longitude]);
    const svg = marker.getElement()?.querySelector('svg');
    if (svg) svg.style.transform = `rotate(${typeof p.course === 'number' ? p.course : 0}deg)`;
    const el = marker.getElement()?.querySelector('.pb');
    if (el) {
      el.dataset.index = String(idx);
      el.dataset.lat = String(p.latitude);
      el.dataset.lon = String(p.longitude);
    }
  }
  $('#history-slider').value = String(idx);
  $('#history-point').innerHTML =
    `<span data-testid="history-point-index">${idx + 1}/${pts.length}</span> · ` +
    `<span data-testid="history-point-time">${escapeHtml(fmtTime(p.time))}</span> · ` +
    `${escapeHtml(fmtNum(p.speed, 1, 'km/h'))} · ${escapeHtml(fmtCoord(p.latitude, p.longitude))}`;
}

export function play() {
  if (!history.points.length) return;
  if (history.index >= history.points.length - 1) setIndex(0);
  history.playing = true;
  $('#history-play').textContent = 'Pause';
  $('#history-play').dataset.state = 'playing';
  let last = performance.now();
  let acc = 0;
  const tick = () => {
    if (!history.playing) return;
    const now = performance.now();
    acc += ((now - last) / 1000) * BASE_RATE * Number($('#history-speed').value || 1);
    last = now;
    const steps = Math.floor(acc);
    if (steps > 0) {
      acc -= steps;
      setIndex(history.index + steps);
    }
    if (history.index >= history.points.length - 1) {
      pause();
      return;
    }
    timer = setTimeout(tick, 50);
  };
  timer = setTimeout(tick, 50);
}

export function pause() {
  history.playing = false;
  clearTimeout(timer);
  $('#history-play').textContent = 'Play';
  $('#history-play').dataset.state = 'paused';
}

function clearLayer() {
  pause();
  if (layer) layer.remove();
  layer = line = marker = null;
}

export function clear() {
  clearLayer();
  history.points = [];
  history.index = 0;
  $('#history-playback').hidden = true;
  $('#history-status').textContent = '';
}
