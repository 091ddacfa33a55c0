// The live feed: one EventSource on /feed/events; each tier change becomes a table row
// at the top. The browser reconnects by itself with Last-Event-ID, so nothing is lost.
(function () {
  "use strict";
  var MAX_ROWS = 200;
  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }
  function start() {
    var table = document.getElementById("feed");
    var status = document.getElementById("feed-status");
    var body = table.tBodies[0];
    var source = new EventSource(table.dataset.source);
    source.addEventListener("ready", function () {
      status.dataset.state = "live";
      status.textContent = "Live: new tier changes appear at the top.";
    });
    source.addEventListener("change", function (event) {
      var change = JSON.parse(event.data);
      var row = document.createElement("tr");
      row.className = "fresh";
      row.dataset.entity = change.entity_id;
      row.dataset.cause = change.cause;
      cell(row, change.time);
      var link = document.createElement("a");
      link.href = "/entities/" + encodeURIComponent(change.entity_id) + "?profile=" + encodeURIComponent(change.profile);
      link.textContent = change.entity_id;
      cell(row, "").appendChild(link);
      cell(row, change.profile);
      cell(row, change.from);
      cell(row, change.to);
      cell(row, change.score.toFixed(1), "num");
      cell(row, change.cause + (change.message_id ? " (" + change.message_id + ")" : ""));
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
    });
    source.addEventListener("failure", function (event) {
      status.dataset.state = "failed";
      status.textContent = "The feed stopped: " + JSON.parse(event.data);
      source.close();
    });
    source.onerror = function () {
      if (status.dataset.state !== "failed") {
        status.dataset.state = "connecting";
        status.textContent = "Reconnecting…";
      }
    };
  }
  document.addEventListener("DOMContentLoaded", start);
})();
