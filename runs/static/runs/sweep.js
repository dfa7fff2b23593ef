// The sweep page: a line chart of the primary metric per child (Chart.js),
// parallel coordinates of parameters -> metric (hand-rolled SVG) and the
// sortable children table. All three redraw from the JSON in the live block,
// which the server pushes again whenever the sweep moves.
(function () {
  "use strict";
  const root = document.querySelector("[data-sweep]");
  if (!root) return;
  const id = root.dataset.sweep;
  const palette = ["#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#0dcaf0", "#6c757d", "#ffc107"];
  let chart = null;
  let sortKey = "value";
  let sortDesc = true;

  function data() {
    const node = document.getElementById("sweep-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function color(index) { return palette[index % palette.length]; }

  function drawLines(d) {
    const canvas = document.getElementById(`sweep-${id}-chart`);
    if (!canvas || !window.Chart) return;
    const datasets = d.children.map((child, i) => ({
      label: `run ${child.id}`,
      data: (d.series[String(child.id)] || []).map(([x, y]) => ({ x, y })),
      borderColor: color(i), backgroundColor: color(i),
      borderWidth: child.id === d.best ? 3 : 1.5, pointRadius: 0, tension: 0.15,
      borderDash: child.status === "EarlyStopped" ? [4, 3] : [],
    }));
    if (chart) {
      chart.data.datasets = datasets;
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        animation: false, parsing: false,
        scales: { x: { type: "linear", title: { display: true, text: "step" } }, y: { title: { display: true, text: d.metric } } },
        plugins: { legend: { display: datasets.length <= 12, position: "bottom", labels: { boxWidth: 10 } } },
      },
    });
  }

  function svg(tag, attrs, text) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // One axis per parameter plus the metric; numbers scale linearly, other values are spread evenly.
  function axis(values) {
    const numeric = values.every((v) => typeof v === "number");
    if (numeric) {
      let lo = Math.min(...values), hi = Math.max(...values);
      if (lo === hi) { lo -= 0.5; hi += 0.5; }
      return { at: (v) => (v - lo) / (hi - lo), ticks: [[0, lo], [0.5, (lo + hi) / 2], [1, hi]] };
    }
    const levels = [...new Set(values.map(String))].sort();
    const step = levels.length > 1 ? 1 / (levels.length - 1) : 0;
    return { at: (v) => (levels.length > 1 ? levels.indexOf(String(v)) * step : 0.5), ticks: levels.map((l, i) => [levels.length > 1 ? i * step : 0.5, l]) };
  }

  function fmt(v) { return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(3)) : String(v); }

  function drawParallel(d) {
    const box = document.getElementById(`sweep-${id}-parallel`);
    if (!box) return;
    box.replaceChildren();
    const rows = d.children.filter((c) => c.value !== null);
    const names = [...d.params, d.metric];
    if (!rows.length) {
      box.append(svg("text", { x: 320, y: 150, "text-anchor": "middle", fill: "#6c757d" }, "No child has reported the metric yet."));
      return;
    }
    // The viewBox is drawn at about two thirds of its width: sizes here are a third larger than on screen.
    const W = 640, H = 440, top = 40, bottom = 20, left = 60, right = 60;
    const xs = names.map((_, i) => left + (i * (W - left - right)) / Math.max(names.length - 1, 1));
    const axes = names.map((name, i) => axis(rows.map((r) => (i < d.params.length ? r.params[name] : r.value))));
    const values = rows.map((r) => r.value);
    const lo = Math.min(...values), hi = Math.max(...values);
    rows.forEach((r) => {
      const t = hi === lo ? 1 : (r.value - lo) / (hi - lo);
      const good = d.goal === "maximize" ? t : 1 - t;
      const hue = Math.round(10 + 200 * good); // red (worst) to blue (best)
      const points = names.map((name, i) => {
        const v = i < d.params.length ? r.params[name] : r.value;
        return `${xs[i]},${top + (1 - axes[i].at(v)) * (H - top - bottom)}`;
      });
      const line = svg("polyline", {
        points: points.join(" "), fill: "none", stroke: `hsl(${hue},70%,45%)`,
        "stroke-width": r.id === d.best ? 3 : 1.5, "stroke-opacity": r.id === d.best ? 1 : 0.7,
        "stroke-dasharray": r.status === "EarlyStopped" ? "4 3" : "",
      });
      line.append(svg("title", {}, `run ${r.id}: ${d.metric} = ${fmt(r.value)}`));
      box.append(line);
    });
    names.forEach((name, i) => {
      box.append(svg("line", { x1: xs[i], x2: xs[i], y1: top, y2: H - bottom, stroke: "#495057", "stroke-width": 1 }));
      // The axis name above it; the last axis (the metric) in bold.
      const anchor = i === 0 ? "start" : i === names.length - 1 ? "end" : "middle";
      box.append(svg("text", { x: i === 0 ? xs[i] - 8 : i === names.length - 1 ? xs[i] + 8 : xs[i], y: 22, "text-anchor": anchor, "font-size": 17, "font-family": "monospace", "font-weight": i === names.length - 1 ? "bold" : "normal" }, name));
      // Ticks beside the axis on a white halo, so the lines never hide them.
      axes[i].ticks.forEach(([t, label]) => {
        const y = top + (1 - t) * (H - top - bottom);
        box.append(svg("line", { x1: xs[i] - 4, x2: xs[i], y1: y, y2: y, stroke: "#495057" }));
        box.append(svg("text", {
          x: i === names.length - 1 ? xs[i] - 7 : xs[i] + 7, y: y + 5, "text-anchor": i === names.length - 1 ? "end" : "start",
          "font-size": 15, fill: "#343a40", stroke: "#fff", "stroke-width": 4, "paint-order": "stroke",
        }, fmt(label)));
      });
    });
  }

  function sortValue(child, key) {
    if (key === "id") return child.id;
    if (key === "status") return child.status;
    if (key === "value") return child.value;
    return child.params[key.slice("param:".length)];
  }

  function drawTable(d) {
    const body = document.getElementById(`sweep-${id}-rows`);
    if (!body) return;
    const rows = [...d.children].sort((a, b) => {
      const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
      if (x === y) return a.id - b.id;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const order = x < y ? -1 : 1;
      return sortDesc ? -order : order;
    });
    body.replaceChildren(...rows.map((c) => {
      const tr = document.createElement("tr");
      tr.id = `run-${c.id}-row`;
      if (c.id === d.best) tr.className = "table-success";
      const cells = [c.id, c.status_label, ...d.params.map((p) => fmt(c.params[p])), c.value === null ? "—" : fmt(c.value), c.reason || ""];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 0) {
          const a = document.createElement("a");
          a.href = c.url; a.textContent = `run ${c.id}`;
          td.append(a);
        } else td.textContent = text;
        if (i === cells.length - 1) td.className = "small text-secondary";
        tr.append(td);
      });
      return tr;
    }));
  }

  function draw() {
    const d = data();
    if (!d) return;
    drawLines(d);
    drawParallel(d);
    drawTable(d);
  }

  document.querySelectorAll(`#sweep-${id}-table th[data-sort]`).forEach((th) => {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      sortDesc = key === sortKey ? !sortDesc : key === "value";
      sortKey = key;
      drawTable(data());
    });
  });
  document.body.addEventListener("htmx:oobAfterSwap", draw);
  document.body.addEventListener("htmx:afterSwap", draw);
  draw();
})();
