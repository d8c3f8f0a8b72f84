// Voice messages of one device (GET /api/voice?deviceId=), newest first:
// time, direction and duration, each with an <audio> player for the server's
// WAV rendering of the clip and a link to the original AMR. The list is asked
// for again when a voiceMessage event of that device arrives and after a clip
// was uploaded. Rows are kept by id, so a clip that is playing keeps playing
// while new ones are added above it.

import { api } from './api.js';
import { on } from './state.js';
import { $, escapeHtml, fmtTime, fmtAge, fmtDuration } from './util.js';

let deviceId = null;
let sendVoice = null; // opens the command dialog on voiceMessage, or null when unsupported
let loading = 0; // number of the newest request: older answers are dropped

/** "4.2 s", "1 min 5 s". */
function clipLength(msValue) {
  if (typeof msValue !== 'number' || !Number.isFinite(msValue)) return '';
  return msValue < 60000 ? `${(msValue / 1000).toFixed(1)} s` : fmtDuration(msValue / 1000);
}

function clipSize(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '';
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
}

export function initVoice() {
  $('#voice-send').addEventListener('click', () => { if (sendVoice) sendVoice(); });
  on('events', ({ events }) => {
    if (deviceId == null) return;
    if (events.some((e) => e.type === 'voiceMessage' && e.deviceId === deviceId)) loadVoice();
  });
  on('device-removed', (id) => { if (id === deviceId) showVoice(null); });
}

/**
 * Shows the voice messages of device `id` (null: none).
 * @param {object} o  send: function that opens the dialog to send a clip, or null
 */
export function showVoice(id, { send = null } = {}) {
  if (id !== deviceId) {
    deviceId = id;
    $('#voice-list').replaceChildren();
    setEmpty('');
  }
  sendVoice = send;
  $('#voice-send').hidden = !send;
  if (id != null) loadVoice();
}

function setEmpty(text) {
  const el = $('#voice-empty');
  el.textContent = text;
  el.hidden = !text;
}

/** GET /api/voice for the device shown; the list keeps its rows on failure. */
export async function loadVoice() {
  const id = deviceId;
  if (id == null) return;
  const n = ++loading;
  try {
    const clips = await api.voice({ deviceId: id });
    if (n !== loading || id !== deviceId) return;
    render(Array.isArray(clips) ? clips : []);
  } catch (e) {
    if (n !== loading || id !== deviceId) return;
    if (!$('#voice-list').children.length) setEmpty(`Voice messages cannot be loaded: ${e.message}`);
  }
}

function row(v) {
  const li = document.createElement('li');
  const dir = v.direction === 'out' ? 'out' : 'in';
  const len = clipLength(v.durationMs);
  const size = clipSize(v.size);
  li.className = `item voice-item ${dir}`;
  li.dataset.voiceId = String(v.id);
  li.dataset.direction = dir;
  li.dataset.testid = `voice-item-${v.id}`;
  li.innerHTML = `<div class="item-main">
      <div class="voice-head">
        <span class="voice-dir ${dir}" data-testid="voice-direction">${dir === 'in' ? '↓ from the device' : '↑ to the device'}</span>
        ${len ? `<span class="voice-len" data-testid="voice-duration">${escapeHtml(len)}</span>` : ''}
        <span class="spacer"></span>
        <a class="small" href="${escapeHtml(api.voiceUrl(v.id, 'amr'))}" download="voice-${escapeHtml(v.id)}.amr" data-testid="voice-amr">AMR${size ? ` · ${escapeHtml(size)}` : ''}</a>
      </div>
      <div class="muted small" data-testid="voice-time" title="${escapeHtml(fmtTime(v.time))}">${escapeHtml(fmtTime(v.time))} · ${escapeHtml(fmtAge(v.time))}</div>
      <audio controls preload="metadata" src="${escapeHtml(typeof v.audio === 'string' && v.audio.startsWith('/api/') ? v.audio : api.voiceUrl(v.id))}" data-testid="voice-audio-${escapeHtml(v.id)}"></audio>
    </div>`;
  return li;
}

/** Newest first; rows already shown stay as they are (a clip may be playing). */
function render(clips) {
  const ul = $('#voice-list');
  const have = new Map([...ul.children].map((li) => [li.dataset.voiceId, li]));
  const sorted = clips.filter((v) => v && v.id != null)
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id - a.id);
  const keep = new Set();
  let prev = null;
  for (const v of sorted) {
    const key = String(v.id);
    keep.add(key);
    const li = have.get(key) || row(v);
    const want = prev ? prev.nextSibling : ul.firstChild;
    if (li !== want) ul.insertBefore(li, want);
    prev = li;
  }
  for (const [key, li] of have) if (!keep.has(key)) li.remove();
  setEmpty(sorted.length ? '' : 'No voice messages.');
}
