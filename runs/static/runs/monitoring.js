// The run page's Monitoring tab: charts of the run's system samples.
//
// The run's websocket carries {"type": "system", "samples": [...], "reset": bool}
// frames: all samples after each (re)connect (reset), then the new ones as the
// monitor stores them (all of them again, with reset, after they were merged).
// The summary above the charts is an HTML fragment htmx swaps by id.
(function () {
  const live = document.getElementById("run-live");
  const root = document.querySelector("[id$='-monitoring'][data-run]");
  if (!live || !root || typeof Chart === "undefined") return;
  const runId = root.dataset.run;
  const COLORS = ["#3b6fd8", "#d8613b", "#2e9e5b", "#9b3bd8", "#c9a227", "#3bb5d8"];
  let samples = [];

  function chart(part, yTitle, options = {}) {
    const canvas = document.getElementById(`run-${runId}-chart-${part}`);
    return new Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        scales: {
          x: { type: "linear", title: { display: true, text: "seconds of sampling" } },
          y: { beginAtZero: true, title: { display: true, text: yTitle }, ...options.y },
        },
        plugins: { legend: { display: true, labels: { boxWidth: 12 } } },
      },
    });
  }
  const charts = {
    cpu: chart("cpu", "cores"),
    memory: chart("memory", "MB"),
    gpu: chart("gpu", "%", { y: { max: 100 } }),
    io: chart("io", "MB/s"),
  };

  function line(label, data, i, dashed) {
    const color = COLORS[i % COLORS.length];
    return { label, data, borderColor: color, backgroundColor: color, pointRadius: 1.5, borderDash: dashed ? [6, 4] : [], tension: 0.2 };
  }

  function draw() {
    if (!samples.length) return;
    const t0 = samples[0].t - samples[0].s;
    const x = (s) => Math.round((s.t - t0) * 10) / 10;
    charts.cpu.data.datasets = [
      line("busy", samples.map((s) => ({ x: x(s), y: s.cpu })), 0),
      line("held", samples.map((s) => ({ x: x(s), y: s.cpus_held })), 1, true),
    ];
    charts.memory.data.datasets = [line("resident", samples.map((s) => ({ x: x(s), y: s.rss / 1e6 })), 0)];
    charts.io.data.datasets = [
      line("read", samples.map((s) => ({ x: x(s), y: s.read / 1e6 / s.s })), 0),
      line("write", samples.map((s) => ({ x: x(s), y: s.write / 1e6 / s.s })), 1),
    ];
    const devices = new Map();
    for (const s of samples) {
      for (const g of s.gpus || []) {
        if (!devices.has(g.index)) devices.set(g.index, []);
        devices.get(g.index).push({ x: x(s), y: g.util });
      }
    }
    charts.gpu.data.datasets = [...devices.entries()].map(([index, data], i) => line(`GPU ${index}`, data, i));
    charts.gpu.canvas.closest("div").hidden = devices.size === 0;
    for (const c of Object.values(charts)) c.update("none");
  }

  live.addEventListener("htmx:wsBeforeMessage", (event) => {
    const text = event.detail.message;
    if (typeof text !== "string" || text[0] !== "{") return;
    const frame = JSON.parse(text);
    if (frame.type !== "system") return;
    event.preventDefault();
    samples = frame.reset ? frame.samples.slice() : samples.concat(frame.samples);
    draw();
  });
  // A chart drawn while its tab was hidden has no size: draw again when it shows.
  document.getElementById(`run-${runId}-tab-monitoring`).addEventListener("shown.bs.tab", () => {
    for (const c of Object.values(charts)) c.resize();
    draw();
  });
})();
