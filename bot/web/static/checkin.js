// Check-in at the door: a typed code or a QR code read by the camera (BarcodeDetector,
// where the browser has it); the result at once and the arrivals counted live.
(function () {
  var box = document.getElementById("checkin");
  var form = document.getElementById("code-form");
  var input = document.getElementById("code");
  var result = document.getElementById("result");
  var busy = false;

  function show(data) {
    result.className = data.outcome;
    result.textContent = data.message + (data.name ? "\n" + data.name : "") +
      (data.organization ? " · " + data.organization : "");
    document.getElementById("arrived").textContent = data.arrived;
    document.getElementById("confirmed").textContent = data.confirmed;
  }

  function send(code, registration) {
    if (busy || !(code || registration)) return;
    busy = true;
    var body = new URLSearchParams({ code: code || "", registration: registration || "",
                                     csrf: box.dataset.csrf });
    fetch(box.dataset.url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function () { result.className = "unknown"; result.textContent = "…"; })
      .finally(function () { busy = false; input.value = ""; input.focus(); });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); send(input.value.trim()); });

  // Someone without a ticket: find them by name and check them in from the list.
  var search = document.getElementById("search");
  var people = document.getElementById("people");
  var searchForm = document.getElementById("search-form");
  var timer = null;
  searchForm.addEventListener("submit", function (event) { event.preventDefault(); });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(searchForm.dataset.url + "?q=" + encodeURIComponent(search.value.trim()),
            { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          people.textContent = "";
          found.forEach(function (person) {
            var item = document.createElement("li");
            item.textContent = (person.name || "—") + (person.organization ? " · " + person.organization : "") +
              " · " + person.status + (person.arrived ? " · " + people.dataset.arrived : "") + " ";
            var button = document.createElement("button");
            button.textContent = people.dataset.check;
            button.className = "check-person";
            button.addEventListener("click", function () { send("", String(person.id)); });
            item.appendChild(button);
            people.appendChild(item);
          });
        }).catch(function () {});
    }, 250);
  });

  setInterval(function () {
    fetch(box.dataset.arrivals, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        document.getElementById("arrived").textContent = data.arrived;
        document.getElementById("confirmed").textContent = data.confirmed;
      }).catch(function () {});
  }, 5000);

  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  var scan = document.getElementById("scan");
  var video = document.getElementById("camera");
  scan.hidden = false;
  scan.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
      .then(function (stream) {
        video.srcObject = stream; video.hidden = false; video.play();
        var last = "";
        (function look() {
          detector.detect(video).then(function (codes) {
            if (codes.length && codes[0].rawValue !== last) {
              last = codes[0].rawValue; send(last);
              setTimeout(function () { last = ""; }, 3000);
            }
          }).catch(function () {}).finally(function () { requestAnimationFrame(look); });
        })();
      }).catch(function () { scan.hidden = true; });
  });
})();
