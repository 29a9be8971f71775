// Composing an announcement: the number of recipients follows the ticked filters.
(function () {
  var form = document.getElementById("compose");
  var count = document.getElementById("count");
  function update() {
    var data = new FormData(form);
    ["csrf", "text_all", "text_kk", "text_ru", "text_en", "when", "action"].forEach(function (k) { data.delete(k); });
    fetch(form.dataset.count + "?" + new URLSearchParams(data), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) { count.textContent = d.count; }).catch(function () {});
  }
  document.getElementById("audience").addEventListener("change", update);
})();
