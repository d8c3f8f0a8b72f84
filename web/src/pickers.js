// Multiple-choice pickers used by the geofence, rule and notification forms:
// an "All …" box (the API's omitted list) and one box per choice.

import { state } from './state.js';
import { escapeHtml, alarmLabel, EVENT_TYPES } from './util.js';

/**
 * Renders a picker into `root`.
 * @param {HTMLElement} root
 * @param {object} o
 *   testid     prefix of the data-testids: `${testid}-all`, `${testid}-${key}`
 *   allLabel   text of the "all" box
 *   items      [{ key, value, label }]
 *   selected   array of values, or null for "all"
 * @returns {{ value(): Array|null, set(selected: Array|null): void }}
 *   value() is null when "all" is ticked, else the ticked values (maybe empty).
 */
export function checkPicker(root, { testid, allLabel, items, selected }) {
  root.classList.add('picker');
  root.dataset.testid = testid;
  root.innerHTML = `<label class="pick-all"><input type="checkbox" data-role="all" data-testid="${escapeHtml(testid)}-all"> ${escapeHtml(allLabel)}</label>
    <div class="pick-list" role="group" aria-label="${escapeHtml(allLabel)}">${items.map((it, i) =>
    `<label class="pick-item"><input type="checkbox" data-index="${i}" data-testid="${escapeHtml(testid)}-${escapeHtml(it.key)}"> <span>${escapeHtml(it.label)}</span></label>`).join('')}
    ${items.length ? '' : '<span class="muted small">none yet</span>'}</div>`;
  const all = root.querySelector('[data-role="all"]');
  const boxes = [...root.querySelectorAll('input[data-index]')];
  let chosen = new Set(); // the individual choice, kept while "all" is ticked

  const paint = () => {
    for (const b of boxes) {
      const v = items[Number(b.dataset.index)].value;
      b.disabled = all.checked;
      b.checked = all.checked || chosen.has(v);
    }
    root.classList.toggle('all', all.checked);
  };
  all.addEventListener('change', paint);
  for (const b of boxes) {
    b.addEventListener('change', () => {
      const v = items[Number(b.dataset.index)].value;
      if (b.checked) chosen.add(v);
      else chosen.delete(v);
    });
  }
  const api = {
    value() {
      if (all.checked) return null;
      return items.map((it) => it.value).filter((v) => chosen.has(v));
    },
    set(sel) {
      all.checked = sel == null;
      chosen = new Set(sel || []);
      paint();
    },
  };
  api.set(selected);
  return api;
}

/** Devices the user sees, by name. */
export function devicePicker(root, { testid, selected }) {
  const items = [...state.devices.values()]
    .sort((a, b) => (a.name || a.uniqueId || '').localeCompare(b.name || b.uniqueId || '') || a.id - b.id)
    .map((d) => ({ key: `device-${d.id}`, value: d.id, label: d.name || d.uniqueId }));
  return checkPicker(root, { testid, allLabel: 'All devices', items, selected });
}

/** Event types a notification can carry. */
export function eventTypePicker(root, { testid, selected }) {
  const items = EVENT_TYPES.map((t) => ({ key: `type-${t}`, value: t, label: alarmLabel(t) }));
  return checkPicker(root, { testid, allLabel: 'All event types', items, selected });
}

/** "All devices" or the device names (unknown ids as #id). */
export function devicesText(ids) {
  if (!Array.isArray(ids) || ids.length === 0) return 'All devices';
  return ids.map((id) => {
    const d = state.devices.get(id);
    return d ? d.name || d.uniqueId : `#${id}`;
  }).join(', ');
}
