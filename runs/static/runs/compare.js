// The experiment page: the selected runs on one chart, with the run page's
// controls (metric_chart.js): several metrics, any metric on the x-axis, log scales.
(function () {
  const data = JSON.parse(document.getElementById("compare-series").textContent); // metric -> run -> [[step, value]]
  const byRun = {}; // "run N" -> metric -> Map(step -> value)
  for (const [metric, runs] of Object.entries(data)) {
    for (const [id, points] of Object.entries(runs)) {
      const label = `run ${id}`;
      byRun[label] = byRun[label] || {};
      byRun[label][metric] = new Map(points);
    }
  }
  function getSeries() {
    const chosen = new Set([...document.querySelectorAll(".compare-run:checked")].map((el) => `run ${el.value}`));
    return Object.fromEntries(Object.entries(byRun).filter(([label]) => chosen.has(label)));
  }
  const chart = window.MetricChart(document.getElementById("compare-metric-chart"), { getSeries });
  document.querySelectorAll(".compare-run").forEach((el) => el.addEventListener("change", chart.update));
  chart.update();
})();
