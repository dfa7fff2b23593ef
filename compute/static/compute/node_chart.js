// A cluster's node-count chart: nodes over time, stacked by state (Chart.js).
//
// The data is JSON inside #target-<pk>-node-chart-data, rendered with the page
// and pushed again by compute.live.push_cluster; the canvas is re-rendered when
// the whole status part is pushed. Both arrive through htmx, so htmx.onLoad
// (which also runs for the page itself) builds a chart for a new canvas and
// redraws the existing one for new data.
(function () {
  // The badges' colours (portal.css .node-state-*).
  const COLORS = {
    running: "#3b6fd8",
    idle: "#2e9e5b",
    preparing: "#1f8fb0",
    leaving: "#a3820f",
    preempted: "#c4542f",
    unusable: "#b8322a",
  };
  const charts = new Map(); // canvas element -> Chart

  function readData(targetId) {
    const holder = document.getElementById(`target-${targetId}-node-chart-data`);
    const script = holder && holder.querySelector("script");
    return script ? JSON.parse(script.textContent) : { x: [], series: [] };
  }

  function clock(ms, short) {
    const parts = short ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    return new Date(ms).toLocaleTimeString([], parts);
  }

  function datasets(data) {
    // States that never occurred stay out of the chart and its legend.
    return data.series.filter((s) => s.counts.some((n) => n > 0)).map((s) => ({
      label: s.label,
      data: data.x.map((x, i) => ({ x, y: s.counts[i] })),
      borderColor: COLORS[s.state],
      backgroundColor: COLORS[s.state] + "cc",
      fill: true,
      stepped: true,
      pointRadius: 0,
      borderWidth: 1,
    }));
  }

  function draw(canvas) {
    if (typeof Chart === "undefined") return;
    const data = readData(canvas.dataset.target);
    let chart = charts.get(canvas);
    if (chart) {
      chart.data.datasets = datasets(data);
      chart.update("none");
      return;
    }
    for (const [old, c] of charts) if (!old.isConnected) { c.destroy(); charts.delete(old); }
    chart = new Chart(canvas, {
      type: "line",
      data: { datasets: datasets(data) },
      options: {
        animation: false,
        parsing: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { type: "linear", ticks: { callback: (v) => clock(v, true), maxTicksLimit: 6, maxRotation: 0 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "nodes" } },
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { title: (items) => (items.length ? clock(items[0].parsed.x) : "") } },
        },
      },
    });
    charts.set(canvas, chart);
  }

  function onLoad(element) {
    const canvases = element.matches && element.matches("canvas.node-chart") ? [element] : [...element.querySelectorAll("canvas.node-chart")];
    const holder = element.id && element.id.endsWith("-node-chart-data") ? element : null;
    if (holder) canvases.push(...document.querySelectorAll(`canvas.node-chart[data-target="${holder.id.split("-")[1]}"]`));
    canvases.forEach(draw);
  }

  if (window.htmx) htmx.onLoad(onLoad);
  else document.addEventListener("DOMContentLoaded", () => onLoad(document.body));
})();
