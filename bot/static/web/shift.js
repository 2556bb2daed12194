/* Shift pressed 3 times leaves, as in the GOV.UK "Exit this page" component: each press opens a 5-second
   window for the next, any other key resets, and Shift released after typing a capital letter does not count.
   One copy for both documents: the chat frame loads this file, and /widget.js carries it inside its own scope.
   show(presses, key) lights and announces (key: "shift_2", "shift_1", "shift_expired", or "" to fall silent);
   leave() goes. Returns the keyup handler. */
function waymarkShiftExit(show, leave) {
  var presses = 0, timer = 0, hush = 0, modified = false;
  function expire() {
    clearTimeout(timer);
    timer = 0;
    presses = 0;
    show(0, "shift_expired");
    hush = setTimeout(function () { show(0, ""); }, 5000);
  }
  return function (e) {
    if (e.key === "Shift" && !modified) {
      presses += 1;
      clearTimeout(hush);
      clearTimeout(timer);
      if (presses >= 3) {
        presses = 0;
        leave();
        return;
      }
      show(presses, presses === 1 ? "shift_2" : "shift_1");
      timer = setTimeout(expire, 5000);
    } else if (timer) {
      expire();
    }
    modified = e.shiftKey;
  };
}
