// Mouse gestures on the stage, in image pixels: hover, click (shift or right button: background), drag a box.
//
// A press that moves less than DRAG_PX (CSS pixels) before its release is a click; beyond that it is
// a box drag from the press point to the release point. Hover events carry the event's time stamp
// (the performance.now() clock), the start of the hover round trip.

const DRAG_PX = 5;

export function attachGestures(layers, handlers) {
  const target = layers.prompts;
  let press = null; // {client: {x, y}, point, dragging}

  target.addEventListener("mousemove", (event) => {
    const point = layers.imagePoint(event);
    if (press) {
      const moved = Math.hypot(event.clientX - press.client.x, event.clientY - press.client.y);
      if (moved >= DRAG_PX) press.dragging = true;
      if (press.dragging) handlers.onDrag(boxOf(press.point, point));
      return;
    }
    handlers.onHover(point, event.timeStamp, event);
  });

  target.addEventListener("mousedown", (event) => {
    if (event.button !== 0) return;
    press = { client: { x: event.clientX, y: event.clientY }, point: layers.imagePoint(event), dragging: false };
  });

  window.addEventListener("mouseup", (event) => {
    if (!press || event.button !== 0) return;
    const done = press;
    press = null;
    if (done.dragging) handlers.onBox(boxOf(done.point, layers.imagePoint(event)));
    else handlers.onClick(done.point, event.shiftKey ? 0 : 1);
  });

  target.addEventListener("contextmenu", (event) => {
    event.preventDefault();
    handlers.onClick(layers.imagePoint(event), 0);
  });

  target.addEventListener("mouseleave", () => handlers.onLeave());
}

function boxOf(a, b) {
  return [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
}
