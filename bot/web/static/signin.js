// Sign-in: a link from the bot is used by a POST (so link previews cannot use it up);
// inside Telegram (a Mini App) the signed initData from the address' fragment is sent.
(function () {
  var form = document.getElementById("signin-form");
  if (form) { form.submit(); return; }
  var fragment = new URLSearchParams(location.hash.slice(1));
  var data = fragment.get("tgWebAppData");
  if (data) {
    document.getElementById("init-data").value = data;
    document.getElementById("miniapp-form").submit();
  }
})();
