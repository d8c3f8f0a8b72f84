// Health charts (heart rate, SpO2, blood pressure, body temperature) of one
// device over a period, from GET /api/positions (records of any type).

import uPlot from 'uplot';
import { api, fetchAll } from './api.js';
import { on } from './state.js';
import { fillDeviceSelect, defaultRange, refreshRange } from './history.js';
import { $, escapeHtml, fmtNum, fromLocalInput, ms } from './util.js';

const CHARTS = [
  { key: 'heartRate', title: 'Heart rate', unit: 'bpm', digits: 0,
    series: [{ attr: 'heartRate', label: 'Heart rate', stroke: '#d6336c' }] },
  { key: 'spo2', title: 'SpO₂', unit: '%', digits: 0,
    series: [{ attr: 'spo2', label: 'SpO₂', stroke: '#1c7ed6' }] },
  { key: 'bp', title: 'Blood pressure', unit: 'mmHg', digits: 0,
    series: [
      { attr: 'systolic', label: 'Systolic', stroke: '#e8590c' },
      { attr: 'diastolic', label: 'Diastolic', stroke: '#7048e8' },
    ] },
  { key: 'bodyTemperature', title: 'Body temperature', unit: '°C', digits: 1,
    series: [{ attr: 'bodyTemperature', label: 'Temperature', stroke: '#2b8a3e' }] },
];

/** What the charts show; also read by tests through window.trackdUI. */
export const health = {
  deviceId: null,
  from: null,
  to: null,
  live: false,
  records: [],
  data: {}, // chart key -> [xs (s), ...ys]
  plots: {}, // chart key -> uPlot
};

export function initHealth() {
  const sel = $('#health-device');
  defaultRange($('#health-from'), $('#health-to'));
  fillDeviceSelect(sel);
  on('devices', () => fillDeviceSelect(sel));
  on('device-removed', () => fillDeviceSelect(sel));
  $('#health-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });

  const box = $('#health-charts');
  box.innerHTML = CHARTS.map((c) => `
    <figure class="chart-card" data-testid="health-chart-${c.key}" data-chart="${c.key}">
      <figcaption><strong>${escapeHtml(c.title)}</strong>
        <span class="muted small" data-testid="health-summary-${c.key}">no data</span></figcaption>
      <div class="chart" id="chart-${c.key}"></div>
    </figure>`).join('');
  for (const c of CHARTS) draw(c, emptyData(c));
  new ResizeObserver(() => resize()).observe(box);

  // New readings of the charted device extend the charts when the period ends now.
  on('positions', (list) => {
    if (!health.live || health.deviceId == null) return;
    const fresh = list.filter((p) => p.deviceId === health.deviceId && ms(p.time) >= ms(health.from) &&
      CHARTS.some((c) => c.series.some((s) => typeof p.attributes?.[s.attr] === 'number')));
    if (!fresh.length) return;
    const seen = new Set(health.records.map((r) => r.id));
    health.records.push(...fresh.filter((p) => p.id == null || !seen.has(p.id)));
    health.records.sort((a, b) => ms(a.time) - ms(b.time));
    rebuild();
  });
}

export function prepareHealth(deviceId) {
  if (deviceId != null) fillDeviceSelect($('#health-device'), deviceId);
  refreshRange($('#health-from'), $('#health-to'));
}

function emptyData(c) {
  return [[], ...c.series.map(() => [])];
}

function width() {
  const w = $('#health-charts').clientWidth;
  return Math.max(200, w - 16);
}

function draw(c, data) {
  const el = document.getElementById(`chart-${c.key}`);
  health.plots[c.key]?.destroy();
  el.innerHTML = '';
  const opts = {
    width: width(),
    height: 150,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true, range: xRange } },
    legend: { show: true, live: true },
    series: [
      {},
      ...c.series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: 2,
        spanGaps: true,
        points: { show: true, size: 5 },
        value: (u, v) => (v == null ? '—' : fmtNum(v, c.digits, c.unit)),
      })),
    ],
    axes: [{ stroke: '#555' }, { stroke: '#555', size: 44 }],
  };
  health.plots[c.key] = new uPlot(opts, data, el);
  health.data[c.key] = data;
}

/** At least ten minutes wide, so one or two readings do not stretch the axis to years. */
function xRange(u, min, max) {
  const xs = u.data && u.data[0];
  if (xs && xs.length) {
    // uPlot widens a single point to a whole day: use the readings themselves.
    min = xs[0];
    max = xs[xs.length - 1];
  }
  if (min == null || max == null) {
    const now = Date.now() / 1000;
    return [now - 3600, now];
  }
  const span = max - min;
  if (span >= 600) return [min - span * 0.02, max + span * 0.02];
  const mid = (min + max) / 2;
  return [mid - 300, mid + 300];
}

function resize() {
  const w = width();
  for (const p of Object.values(health.plots)) {
    if (p.width !== w) p.setSize({ width: w, height: 150 });
  }
}

function rebuild() {
  for (const c of CHARTS) {
    const rows = health.records.filter((r) => c.series.some((s) => typeof r.attributes?.[s.attr] === 'number'));
    const xs = rows.map((r) => ms(r.time) / 1000);
    const ys = c.series.map((s) => rows.map((r) => {
      const v = r.attributes?.[s.attr];
      return typeof v === 'number' ? v : null;
    }));
    const data = [xs, ...ys];
    health.data[c.key] = data;
    const plot = health.plots[c.key];
    if (plot) plot.setData(data);
    else draw(c, data);
    summarise(c, ys);
  }
}

function summarise(c, ys) {
  const el = document.querySelector(`[data-testid="health-summary-${c.key}"]`);
  const card = el.closest('.chart-card');
  const vals = ys[0].filter((v) => v != null);
  if (!vals.length && !(ys[1] || []).some((v) => v != null)) {
    el.textContent = 'no data';
    card.dataset.values = '';
    card.dataset.count = '0';
    return;
  }
  const parts = c.series.map((s, i) => {
    const v = ys[i].filter((x) => x != null);
    if (!v.length) return `${s.label}: —`;
    const last = v[v.length - 1];
    return `${c.series.length > 1 ? s.label + ' ' : 'latest '}${fmtNum(last, c.digits, c.unit)} ` +
      `(min ${fmtNum(Math.min(...v), c.digits)}, max ${fmtNum(Math.max(...v), c.digits)})`;
  });
  const count = Math.max(...ys.map((y) => y.filter((x) => x != null).length));
  el.textContent = `${parts.join(' · ')} · ${count} reading${count === 1 ? '' : 's'}`;
  card.dataset.values = ys.map((y) => y.filter((x) => x != null).join(',')).join('|');
  card.dataset.count = String(count);
}

export async function load() {
  const status = $('#health-status');
  refreshRange($('#health-from'), $('#health-to'));
  const deviceId = Number($('#health-device').value);
  const from = fromLocalInput($('#health-from').value);
  const to = fromLocalInput($('#health-to').value);
  if (!deviceId || !from || !to) {
    status.textContent = 'Choose a device and a period.';
    return;
  }
  status.textContent = 'Loading…';
  status.dataset.state = 'loading';
  try {
    const rows = await fetchAll(api.positions, { deviceId, from, to }, { limit: 10000, maxPages: 50 });
    Object.assign(health, { deviceId, from, to, live: ms(to) >= Date.now() - 120e3 });
    health.records = rows.filter((r) =>
      CHARTS.some((c) => c.series.some((s) => typeof r.attributes?.[s.attr] === 'number')));
    rebuild();
    status.textContent = `${health.records.length} readings in ${rows.length} records`;
    status.dataset.state = 'loaded';
  } catch (e) {
    status.textContent = `Could not load health data: ${e.message}`;
    status.dataset.state = 'error';
  }
}

/** Charts need a redraw when their pane becomes visible. */
export function onShown() {
  resize();
}
