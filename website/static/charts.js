// Draw every <div class="chart" data-chart="i"> with plotly from the JSON embedded in the page
// (<script type="application/json" id="chart-data">): no fetch, so file:// works.
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("chart-data").textContent);
  var config = { responsive: true, displaylogo: false };
  document.querySelectorAll("div.chart[data-chart]").forEach(function (div) {
    var spec = specs[parseInt(div.getAttribute("data-chart"), 10)];
    if (spec) { Plotly.newPlot(div, spec.data, spec.layout, config); }
  });
}());
