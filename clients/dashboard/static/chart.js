// The entity's score history at real times, drawn with the vendored uPlot.
// Data comes from the page itself (#history-data), so no extra request is made.
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("history-chart");
    var source = document.getElementById("history-data");
    if (!holder || !source || typeof uPlot === "undefined") { return; }
    var series = JSON.parse(source.textContent);
    var width = Math.max(holder.clientWidth, 320);
    var options = {
      width: width,
      height: 260,
      scales: { y: { range: [0, 100] } },
      series: [
        {},
        { label: "score", stroke: "#0b4f9c", width: 2, points: { show: true, size: 5 } }
      ],
      axes: [{}, { label: "score" }]
    };
    var plot = new uPlot(options, [series.times, series.scores], holder);
    holder.dataset.points = String(plot.data[0].length);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
