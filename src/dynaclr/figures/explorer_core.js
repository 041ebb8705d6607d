// The explorer's logic without the page: which cell is under the pointer, the tracks, the
// colours, the annotations and their CSV. The page (explorer_page.js) draws and listens; node runs
// this file alone in the tests.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const MISSING = "#d0d0d0";

// Cells of each track (fov_name, track_id), sorted by frame: index lists keyed "fov|track".
function trackMembers(cells) {
  const tracks = new Map();
  for (let i = 0; i < cells.t.length; i++) {
    const key = cells.fov_name[i] + "|" + cells.track_id[i];
    if (!tracks.has(key)) tracks.set(key, []);
    tracks.get(key).push(i);
  }
  for (const members of tracks.values()) members.sort((a, b) => cells.t[a] - cells.t[b]);
  return tracks;
}

// The index of the point nearest (x, y) within radius (screen units), or -1.
function nearest(screen, x, y, radius) {
  let best = -1;
  let bestDistance = radius * radius;
  for (let i = 0; i < screen.length; i++) {
    const dx = screen[i][0] - x;
    const dy = screen[i][1] - y;
    const d = dx * dx + dy * dy;
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

// Indices of the points inside the rectangle spanned by (x0, y0) and (x1, y1).
function inRectangle(screen, x0, y0, x1, y1) {
  const [left, right] = [Math.min(x0, x1), Math.max(x0, x1)];
  const [top, bottom] = [Math.min(y0, y1), Math.max(y0, y1)];
  const inside = [];
  for (let i = 0; i < screen.length; i++) {
    const [x, y] = screen[i];
    if (x >= left && x <= right && y >= top && y <= bottom) inside.push(i);
  }
  return inside;
}

// A colour per value: categories from the palette (in order of first appearance, sorted), numbers
// on a blue-to-yellow ramp between their minimum and maximum; missing values grey.
function colours(values) {
  const present = values.filter((v) => v !== null && v !== "" && !(typeof v === "number" && isNaN(v)));
  const numeric = present.length > 0 && present.every((v) => typeof v === "number");
  if (numeric) {
    const low = Math.min(...present);
    const high = Math.max(...present);
    const legend = { kind: "numeric", low: low, high: high };
    const ramp = (v) => {
      const f = high > low ? (v - low) / (high - low) : 0.5;
      const r = Math.round(68 + f * (253 - 68));
      const g = Math.round(1 + f * (231 - 1));
      const b = Math.round(84 + f * (37 - 84));
      return `rgb(${r},${g},${b})`;
    };
    const usable = (v) => typeof v === "number" && !isNaN(v);
    return { colour: values.map((v) => (usable(v) ? ramp(v) : MISSING)), legend: legend };
  }
  const categories = [...new Set(present.map(String))].sort();
  const index = new Map(categories.map((c, k) => [c, k]));
  const legend = { kind: "categorical", categories: categories.map((c, k) => [c, PALETTE[k % PALETTE.length]]) };
  const colour = values.map((v) => {
    const k = index.get(String(v));
    return k === undefined || v === null || v === "" ? MISSING : PALETTE[k % PALETTE.length];
  });
  return { colour: colour, legend: legend };
}

// Label the selected cells: annotations maps a cell index to {task, label}; a cell gets one label
// per task (a later label replaces an earlier one).
function annotate(annotations, selection, task, label) {
  for (const i of selection) {
    if (!annotations.has(i)) annotations.set(i, new Map());
    annotations.get(i).set(task, label);
  }
  return annotations;
}

function csvField(value) {
  const text = String(value);
  return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

// The annotations as the table `import_annotations` reads: fov_name,track_id,t,task,label.
function annotationsCsv(cells, annotations) {
  const lines = ["fov_name,track_id,t,task,label"];
  const rows = [];
  for (const [i, labels] of annotations) {
    for (const [task, label] of labels) rows.push([cells.fov_name[i], cells.track_id[i], cells.t[i], task, label]);
  }
  rows.sort((a, b) => (a[3] + a[0]).localeCompare(b[3] + b[0]) || a[1] - b[1] || a[2] - b[2]);
  for (const row of rows) lines.push(row.map(csvField).join(","));
  return lines.join("\n") + "\n";
}

if (typeof module !== "undefined") {
  module.exports = { trackMembers, nearest, inRectangle, colours, annotate, annotationsCsv };
}
