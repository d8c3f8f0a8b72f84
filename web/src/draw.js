// Drawing and editing geofence areas on the Leaflet map.
//
//   startDraw('circle' | 'polygon') -> Promise<area | null>
//     circle:  click the centre, then click (or press and drag) to set the radius
//     polygon: click the corners; double-click, click the first corner, Enter
//              or the Finish button closes it; Backspace / Undo removes the last
//              corner; Esc / Cancel gives up (the promise resolves null)
//   showEditable(area, onChange)  the area with handles: drag corners, or a
//              circle's centre and edge; onChange(area) after every drag
//
// Areas are the API's: {type:'circle', latitude, longitude, radius} (metres) or
// {type:'polygon', coordinates:[[lat, lon], ...]} (not closed).

import L from 'leaflet';
import { getMap } from './map.js';
import { $, fmtDistance } from './util.js';

const CLICK_PX = 8; // a press that moves less than this is a click
const SHAPE = { color: '#e8590c', weight: 2, fillColor: '#ff922b', fillOpacity: 0.15, interactive: false };

let session = null; // the drawing in progress
let editable = null; // { layers: [], area }

const round = (v) => Math.round(v * 1e7) / 1e7;

/** Whether a drawing is in progress. */
export function drawing() {
  return session !== null;
}

/** A Leaflet layer showing an area (not added to the map). */
export function areaLayer(area, style = {}) {
  if (!area) return null;
  if (area.type === 'circle') {
    return L.circle([area.latitude, area.longitude], { ...SHAPE, ...style, radius: area.radius });
  }
  if (area.type === 'polygon' && Array.isArray(area.coordinates)) {
    return L.polygon(area.coordinates, { ...SHAPE, ...style });
  }
  return null;
}

/** Bounds of an area (for fitting the map to it). */
export function areaBounds(area) {
  if (!area) return null;
  if (area.type === 'circle') {
    return L.latLng(area.latitude, area.longitude).toBounds(area.radius * 2);
  }
  if (area.type === 'polygon' && Array.isArray(area.coordinates) && area.coordinates.length) {
    return L.latLngBounds(area.coordinates);
  }
  return null;
}

/** "Circle, radius 250 m" / "Polygon, 5 corners". */
export function areaText(area) {
  if (!area) return 'no area yet';
  if (area.type === 'circle') return `Circle, radius ${fmtDistance(area.radius)}`;
  if (area.type === 'polygon') return `Polygon, ${area.coordinates?.length || 0} corners`;
  return String(area.type || 'area');
}

function handleIcon(extra = '') {
  return L.divIcon({ className: `draw-handle${extra ? ' ' + extra : ''}`, iconSize: [14, 14], iconAnchor: [7, 7] });
}

// --- drawing -------------------------------------------------------------------

function bar(kind) {
  $('#draw-bar').hidden = !kind;
  if (!kind) return;
  $('#draw-bar').dataset.kind = kind;
  $('#draw-undo').hidden = kind !== 'polygon';
  $('#draw-finish').hidden = kind !== 'polygon';
}

function hint(text) {
  $('#draw-hint').textContent = text;
}

/**
 * Starts drawing a new area; resolves with it, or null when cancelled. A
 * drawing already in progress is cancelled first.
 */
export function startDraw(kind) {
  const map = getMap();
  if (!map) return Promise.resolve(null);
  if (session) cancelDraw();
  clearEditable();
  return new Promise((resolve) => {
    const s = {
      kind,
      resolve,
      layers: L.layerGroup().addTo(map),
      points: [], // polygon corners (L.LatLng)
      corners: [], // their markers
      centre: null, // circle
      radius: 0,
      downPt: null,
      pressing: false,
      skipClick: false, // the click that ends a press-and-drag
      centreClick: false, // the click that set the centre
      dragging: map.dragging.enabled(),
      dblZoom: map.doubleClickZoom.enabled(),
    };
    session = s;
    map.doubleClickZoom.disable();
    if (kind === 'circle') map.dragging.disable(); // press and drag sets the radius
    map.getContainer().classList.add('drawing');
    map.on('mousedown', onDown).on('mousemove', onMove).on('mouseup', onUp)
      .on('click', onClick).on('dblclick', onDblClick);
    document.addEventListener('keydown', onKey, true);
    bar(kind);
    update();
  });
}

function teardown(result) {
  const s = session;
  if (!s) return;
  session = null;
  const map = getMap();
  map.off('mousedown', onDown).off('mousemove', onMove).off('mouseup', onUp)
    .off('click', onClick).off('dblclick', onDblClick);
  document.removeEventListener('keydown', onKey, true);
  if (s.dragging) map.dragging.enable();
  if (s.dblZoom) {
    // The double-click that closed a polygon must not zoom.
    setTimeout(() => { if (!session) map.doubleClickZoom.enable(); }, 400);
  }
  map.getContainer().classList.remove('drawing');
  s.layers.remove();
  bar(null);
  s.resolve(result);
}

export function cancelDraw() {
  teardown(null);
}

/** Closes the polygon being drawn (needs three corners). */
export function finishDraw() {
  const s = session;
  if (!s) return;
  if (s.kind === 'polygon') {
    if (s.points.length < 3) {
      hint('A polygon needs at least 3 corners.');
      return;
    }
    teardown({ type: 'polygon', coordinates: s.points.map((p) => [round(p.lat), round(p.lng)]) });
  } else if (s.centre && s.radius > 0) {
    teardown({
      type: 'circle', latitude: round(s.centre.lat), longitude: round(s.centre.lng),
      radius: Math.max(1, Math.round(s.radius)),
    });
  }
}

export function undoPoint() {
  const s = session;
  if (!s || s.kind !== 'polygon' || !s.points.length) return;
  s.points.pop();
  s.corners.pop()?.remove();
  update();
}

function onKey(ev) {
  if (!session) return;
  const t = ev.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
  if (ev.key === 'Escape') cancelDraw();
  else if (ev.key === 'Enter') finishDraw();
  else if (ev.key === 'Backspace' || ((ev.ctrlKey || ev.metaKey) && ev.key === 'z')) undoPoint();
  else return;
  ev.preventDefault();
  ev.stopPropagation();
}

function onDown(e) {
  const s = session;
  if (!s || s.kind !== 'circle' || s.centre || (e.originalEvent && e.originalEvent.button > 0)) return;
  s.centre = e.latlng;
  s.radius = 0;
  s.downPt = e.containerPoint;
  s.pressing = true;
  s.centreClick = true;
  update();
}

function onMove(e) {
  const s = session;
  if (!s) return;
  s.cursor = e.latlng;
  if (s.kind === 'circle' && s.centre) s.radius = getMap().distance(s.centre, e.latlng);
  update();
}

function onUp(e) {
  const s = session;
  if (!s || s.kind !== 'circle' || !s.pressing) return;
  s.pressing = false;
  if (s.downPt && s.downPt.distanceTo(e.containerPoint) > CLICK_PX) {
    s.radius = getMap().distance(s.centre, e.latlng);
    s.skipClick = true;
    finishDraw();
  }
}

function onClick(e) {
  const s = session;
  if (!s) return;
  if (s.kind === 'circle') {
    if (s.skipClick) { s.skipClick = false; return; }
    if (!s.centre) { // no press seen (some touch browsers): the click sets the centre
      s.centre = e.latlng;
      s.downPt = e.containerPoint;
      update();
      return;
    }
    if (s.centreClick) { s.centreClick = false; return; }
    const map = getMap();
    if (map.latLngToContainerPoint(s.centre).distanceTo(e.containerPoint) <= CLICK_PX) return;
    s.radius = map.distance(s.centre, e.latlng);
    finishDraw();
    return;
  }
  addCorner(e.latlng);
}

function onDblClick() {
  const s = session;
  if (!s || s.kind !== 'polygon') return;
  // The two clicks of a double-click each added a corner at the same spot.
  const map = getMap();
  while (s.points.length >= 2) {
    const a = map.latLngToContainerPoint(s.points[s.points.length - 1]);
    const b = map.latLngToContainerPoint(s.points[s.points.length - 2]);
    if (a.distanceTo(b) > CLICK_PX) break;
    undoPoint();
  }
  finishDraw();
}

function addCorner(latlng) {
  const s = session;
  const first = s.points.length === 0;
  s.points.push(latlng);
  const m = L.marker(latlng, {
    icon: handleIcon(first ? 'first' : ''),
    interactive: first,
    keyboard: false,
    pane: 'drawHandles',
  });
  if (first) {
    m.on('click', (ev) => {
      L.DomEvent.stop(ev);
      if (session === s && s.points.length >= 3) finishDraw();
    });
  }
  m.addTo(s.layers);
  s.corners.push(m);
  update();
}

function update() {
  const s = session;
  if (!s) return;
  if (s.kind === 'circle') {
    if (s.centre) {
      if (!s.circle) {
        s.circle = L.circle(s.centre, { ...SHAPE, radius: Math.max(s.radius, 0.1), pane: 'drawShapes' }).addTo(s.layers);
        L.marker(s.centre, { icon: handleIcon('first'), interactive: false, keyboard: false, pane: 'drawHandles' }).addTo(s.layers);
      }
      s.circle.setLatLng(s.centre).setRadius(Math.max(s.radius, 0.1));
    }
    hint(!s.centre ? 'Click the centre of the circle.'
      : `Radius ${fmtDistance(s.radius)} — click (or drag) to set the edge.`);
    return;
  }
  const pts = s.points;
  if (!s.shape) {
    s.shape = L.polygon([], { ...SHAPE, pane: 'drawShapes' }).addTo(s.layers);
    s.rubber = L.polyline([], { ...SHAPE, dashArray: '4 6', pane: 'drawShapes' }).addTo(s.layers);
  }
  s.shape.setLatLngs(pts);
  s.rubber.setLatLngs(pts.length && s.cursor ? [pts[pts.length - 1], s.cursor, ...(pts.length > 1 ? [pts[0]] : [])] : []);
  $('#draw-finish').disabled = pts.length < 3;
  $('#draw-undo').disabled = pts.length === 0;
  hint(pts.length === 0 ? 'Click the first corner.'
    : pts.length < 3 ? `${pts.length} corner${pts.length > 1 ? 's' : ''} — click the next one.`
      : `${pts.length} corners — double-click, click the first corner or Finish to close.`);
}

// --- editing -------------------------------------------------------------------

/** Shows an area with drag handles; onChange(area) after each change. */
export function showEditable(area, onChange) {
  const map = getMap();
  clearEditable();
  if (!map || !area) return;
  const group = L.layerGroup().addTo(map);
  const ed = { group, area: structuredClone(area) };
  editable = ed;
  const shape = areaLayer(ed.area, { pane: 'drawShapes' }).addTo(group);
  shape.getElement?.()?.setAttribute('data-testid', 'geofence-edit-shape');

  const handle = (latlng, extra, title) => L.marker(latlng, {
    icon: handleIcon(extra), draggable: true, keyboard: false, pane: 'drawHandles', title,
  }).addTo(group);

  if (ed.area.type === 'circle') {
    const edgeOf = (c, r) => {
      const dLon = r / (111320 * Math.max(0.01, Math.cos((c.lat * Math.PI) / 180)));
      return L.latLng(c.lat, c.lng + dLon);
    };
    const c0 = L.latLng(ed.area.latitude, ed.area.longitude);
    const centre = handle(c0, 'first', 'Drag to move the circle');
    const edge = handle(edgeOf(c0, ed.area.radius), 'edge', 'Drag to change the radius');
    centre.on('drag', () => {
      const c = centre.getLatLng();
      shape.setLatLng(c);
      edge.setLatLng(edgeOf(c, ed.area.radius));
    });
    edge.on('drag', () => {
      shape.setRadius(Math.max(1, map.distance(centre.getLatLng(), edge.getLatLng())));
    });
    const done = () => {
      const c = centre.getLatLng();
      ed.area = {
        type: 'circle', latitude: round(c.lat), longitude: round(c.lng),
        radius: Math.max(1, Math.round(shape.getRadius())),
      };
      edge.setLatLng(edgeOf(c, ed.area.radius));
      onChange(structuredClone(ed.area));
    };
    centre.on('dragend', done);
    edge.on('dragend', done);
  } else {
    const handles = ed.area.coordinates.map((p, i) => {
      const h = handle(L.latLng(p[0], p[1]), i === 0 ? 'first' : '', 'Drag to move this corner');
      h.on('drag', () => shape.setLatLngs(handles.map((x) => x.getLatLng())));
      h.on('dragend', () => {
        ed.area = { type: 'polygon', coordinates: handles.map((x) => [round(x.getLatLng().lat), round(x.getLatLng().lng)]) };
        onChange(structuredClone(ed.area));
      });
      return h;
    });
  }
}

export function clearEditable() {
  if (editable) {
    editable.group.remove();
    editable = null;
  }
}

/** Wires the drawing bar's buttons (once, after the map exists). */
export function initDraw() {
  const map = getMap();
  map.createPane('drawShapes').style.zIndex = 630;
  map.createPane('drawHandles').style.zIndex = 640;
  $('#draw-finish').addEventListener('click', finishDraw);
  $('#draw-undo').addEventListener('click', undoPoint);
  $('#draw-cancel').addEventListener('click', cancelDraw);
  // Clicks on the bar are not clicks on the map.
  L.DomEvent.disableClickPropagation($('#draw-bar'));
}
