// Loads the population fragment (tier counts, score histogram) after the ranked list is
// shown: on a big store its counts cost more than the list itself. Without scripts the
// placeholder stays a link to the fragment.
(function () {
  "use strict";
  function load() {
    var holder = document.getElementById("population");
    if (!holder) { return; }
    fetch(holder.dataset.src, { headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) { holder.innerHTML = html; holder.dataset.loaded = "true"; })
      .catch(function (error) { holder.textContent = "Population unavailable: " + error.message; });
  }
  document.addEventListener("DOMContentLoaded", load);
})();
