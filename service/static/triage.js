// Keyboard triage for the queue page (served by Warden itself; no inline script, so it
// runs under a strict Content-Security-Policy).
//   j / k     move the selection down / up
//   o, Enter  open the selected item or wave
//   x         show or hide the members of the selected wave
//   m / b / n record malicious / benign / needs-info on the selected item, then the page
//             comes back on the same filter with the next item selected
// A wave row is never judged by one key: m/b/n open its page, where the wave verdict
// asks for confirmation.
(function () {
  "use strict";
  var state = document.getElementById("queue-state");
  if (!state) { return; }
  var form = document.getElementById("key-form");
  var VERDICT_KEYS = { m: "malicious", b: "benign", n: "needs-info" };
  var current = null;

  function rows() {
    return Array.prototype.filter.call(
      document.querySelectorAll("#queue tr.row"), function (r) { return !r.hidden; });
  }

  function select(row) {
    if (current) { current.classList.remove("selected"); }
    current = row || null;
    if (current) {
      current.classList.add("selected");
      current.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var at = all.indexOf(current);
    select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }

  function topLevel(row) {
    // The index, among the page's top-level rows, of a row or of its wave.
    if (row.dataset.group) {
      row = document.querySelector('#queue tr.wave[data-campaign="' +
                                   CSS.escape(row.dataset.group) + '"]') || row;
    }
    return row.dataset.index || "0";
  }

  function toggle(campaign) {
    var members = document.querySelectorAll(
      '#queue tr.member[data-group="' + CSS.escape(campaign) + '"]');
    var show = members.length && members[0].hidden;
    Array.prototype.forEach.call(members, function (m) { m.hidden = !show; });
    if (!show && current && current.dataset.group === campaign) {
      select(document.querySelector('#queue tr.wave[data-campaign="' +
                                    CSS.escape(campaign) + '"]'));
    }
  }

  function judge(verdict) {
    if (!current) { return; }
    if (!current.dataset.event) { window.location.assign(current.dataset.href); return; }
    if (!form || state.dataset.canAct !== "yes") { return; }
    form.elements.event_id.value = current.dataset.event;
    form.elements.verdict.value = verdict;
    form.elements.sel.value = topLevel(current);
    form.submit();
  }

  Array.prototype.forEach.call(document.querySelectorAll("#queue button.expand"),
    function (button) {
      button.addEventListener("click", function () { toggle(button.dataset.campaign); });
    });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey ||
        (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) { return; }
    var key = event.key;
    if (key === "j") { move(1); }
    else if (key === "k") { move(-1); }
    else if ((key === "o" || key === "Enter") && current) {
      window.location.assign(current.dataset.href);
    }
    else if (key === "x" && current && current.dataset.campaign) {
      toggle(current.dataset.campaign);
    }
    else if (VERDICT_KEYS.hasOwnProperty(key)) { judge(VERDICT_KEYS[key]); }
    else { return; }
    event.preventDefault();
  });

  var top = document.querySelectorAll("#queue tr.row:not(.member)");
  var wanted = parseInt(state.dataset.selected || "0", 10) || 0;
  if (top.length) { select(top[Math.min(wanted, top.length - 1)]); }
}());
