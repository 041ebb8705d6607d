// The explorer page: draws the projection, shows the cell under the pointer and its track, keeps a
// selection and the annotations, and downloads them. Logic lives in explorer_core.js.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const cells = data.cells;
  const tracks = trackMembers(cells);
  const canvas = document.getElementById("scatter");
  const context = canvas.getContext("2d");
  const size = canvas.width;
  const margin = 12;
  const selection = new Set();
  const annotations = new Map();
  let screen = [];
  let colour = [];
  let hovered = -1;
  let dragStart = null;

  const methodSelect = document.getElementById("method");
  const colourSelect = document.getElementById("colour-by");
  for (const method of Object.keys(data.projections)) methodSelect.add(new Option(method.toUpperCase(), method));
  for (const column of Object.keys(data.columns)) colourSelect.add(new Option(column, column));
  if (data.default_colour) colourSelect.value = data.default_colour;

  function layout() {
    const points = data.projections[methodSelect.value];
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const scale = (size - 2 * margin) / Math.max(x1 - x0, y1 - y0, 1e-12);
    screen = points.map((p) => [margin + (p[0] - x0) * scale, size - margin - (p[1] - y0) * scale]);
    document.getElementById("axes").textContent = data.axis_labels[methodSelect.value] || "";
  }

  function recolour() {
    const result = colours(data.columns[colourSelect.value]);
    colour = result.colour;
    const legend = document.getElementById("legend");
    legend.innerHTML = "";
    if (result.legend.kind === "numeric") {
      legend.textContent = `${colourSelect.value}: ${result.legend.low.toFixed(2)} (purple) to ${result.legend.high.toFixed(2)} (yellow)`;
    } else {
      for (const [name, swatch] of result.legend.categories) {
        const item = document.createElement("span");
        item.className = "swatch";
        item.innerHTML = `<i style="background:${swatch}"></i>`;
        item.append(document.createTextNode(name));
        legend.append(item);
      }
    }
  }

  function draw() {
    context.clearRect(0, 0, size, size);
    for (let i = 0; i < screen.length; i++) {
      context.fillStyle = colour[i];
      context.beginPath();
      context.arc(screen[i][0], screen[i][1], 2.5, 0, 2 * Math.PI);
      context.fill();
    }
    context.strokeStyle = "#000";
    context.lineWidth = 1.5;
    for (const i of selection) {
      context.beginPath();
      context.arc(screen[i][0], screen[i][1], 4.5, 0, 2 * Math.PI);
      context.stroke();
    }
    if (hovered >= 0) {
      const members = tracks.get(cells.fov_name[hovered] + "|" + cells.track_id[hovered]);
      context.strokeStyle = "#e4007c";
      context.beginPath();
      members.forEach((i, k) => (k ? context.lineTo(...screen[i]) : context.moveTo(...screen[i])));
      context.stroke();
    }
    document.getElementById("counts").textContent =
      `${screen.length} cells shown, ${selection.size} selected, ${annotations.size} annotated`;
  }

  function thumbnail(i, current) {
    const image = document.createElement("img");
    image.src = "data:" + data.thumbnail_type + ";base64," + data.thumbnails[i];
    image.title = `t = ${cells.t[i]}`;
    image.className = current ? "thumb current" : "thumb";
    return image;
  }

  function show(i) {
    const panel = document.getElementById("cell");
    const strip = document.getElementById("track");
    panel.innerHTML = "";
    strip.innerHTML = "";
    if (i < 0) return;
    panel.append(thumbnail(i, true));
    const facts = document.createElement("div");
    facts.className = "facts";
    const lines = [`FOV ${cells.fov_name[i]}, track ${cells.track_id[i]}, t = ${cells.t[i]}`];
    for (const column of Object.keys(data.columns)) lines.push(`${column}: ${data.columns[column][i]}`);
    facts.textContent = lines.join("\n");
    panel.append(facts);
    for (const k of tracks.get(cells.fov_name[i] + "|" + cells.track_id[i])) strip.append(thumbnail(k, k === i));
  }

  function position(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * size) / box.width, ((event.clientY - box.top) * size) / box.height];
  }

  canvas.addEventListener("mousemove", (event) => {
    const [x, y] = position(event);
    const i = nearest(screen, x, y, 6);
    if (i !== hovered) {
      hovered = i;
      show(i);
      draw();
    }
  });
  canvas.addEventListener("mousedown", (event) => {
    dragStart = position(event);
  });
  canvas.addEventListener("mouseup", (event) => {
    const [x, y] = position(event);
    if (dragStart && Math.hypot(x - dragStart[0], y - dragStart[1]) > 4) {
      for (const i of inRectangle(screen, dragStart[0], dragStart[1], x, y)) selection.add(i);
    } else {
      const i = nearest(screen, x, y, 6);
      if (i >= 0) (selection.has(i) ? selection.delete(i) : selection.add(i));
      show(i);
    }
    dragStart = null;
    draw();
  });

  const taskSelect = document.getElementById("task");
  const labelSelect = document.getElementById("label");
  function labels() {
    labelSelect.innerHTML = "";
    for (const label of data.task_labels[taskSelect.value]) labelSelect.add(new Option(label, label));
  }
  for (const task of Object.keys(data.task_labels)) taskSelect.add(new Option(task, task));
  labels();
  taskSelect.addEventListener("change", labels);
  methodSelect.addEventListener("change", () => (layout(), draw()));
  colourSelect.addEventListener("change", () => (recolour(), draw()));
  document.getElementById("clear").addEventListener("click", () => (selection.clear(), draw()));
  document.getElementById("apply").addEventListener("click", () => {
    annotate(annotations, selection, taskSelect.value, labelSelect.value);
    selection.clear();
    draw();
  });
  document.getElementById("download").addEventListener("click", () => {
    const blob = new Blob([annotationsCsv(cells, annotations)], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = data.download_name;
    document.body.append(link);
    link.click();
    link.remove();
  });
  layout();
  recolour();
  draw();
})();
