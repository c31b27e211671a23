// layerlab playground: the WebSocket both pages talk over (index.html's app.js: /ws; images.html's
// images.js: /ws/images). Each page opens it in its connect() and defines setPlaying and showMessage.
"use strict";

let socket = null;

// A message to the server; dropped while the socket is not open.
function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}
// The socket's onclose: training stops, and the page says how to start again.
function socketClosed() {
  setPlaying(false);
  showMessage("The connection to the server closed; reload the page to start again.");
}
