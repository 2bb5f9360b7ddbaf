// The demo page: draw on #pad or send a picture; POST /predict/image answers with the digit,
// its ten probabilities and the 28x28 the model saw. Plain JavaScript, no build step.
"use strict";

(() => {
  // Relative, so the page also works when the app is served under a path prefix.
  const ENDPOINT = "predict/image?return_input=true";
  const pad = document.getElementById("pad");
  const pen = pad.getContext("2d");
  const seen = document.getElementById("input").getContext("2d");
  const prediction = document.getElementById("prediction");
  const confidence = document.getElementById("confidence");
  const message = document.getElementById("message");
  const bars = [];
  let last = null; // where the stroke under way is, or null
  let sent = 0; // requests made; only the latest one's answer is shown

  for (let digit = 0; digit < 10; digit += 1) {
    const item = document.createElement("li");
    item.innerHTML = `<span class="bar"></span><span class="label">${digit}</span>`;
    item.title = `${digit}`;
    document.getElementById("bars").append(item);
    bars.push(item);
  }

  function blank() {
    pen.fillStyle = "#fff";
    pen.fillRect(0, 0, pad.width, pad.height);
  }

  function show(answer) {
    prediction.textContent = answer === null ? "\u2013" : String(answer.prediction);
    confidence.textContent = answer === null ? "" : `${(answer.confidence * 100).toFixed(1)}%`;
    bars.forEach((item, digit) => {
      const p = answer === null ? 0 : answer.probabilities[digit];
      item.style.setProperty("--p", p);
      item.title = `${digit}: ${(p * 100).toFixed(2)}%`;
      item.classList.toggle("top", answer !== null && digit === answer.prediction);
    });
    seen.clearRect(0, 0, 28, 28);
    if (answer !== null && answer.input) {
      const pixels = seen.createImageData(28, 28);
      answer.input.flat().forEach((value, i) => {
        const level = Math.round(value * 255);
        pixels.data.set([level, level, level, 255], i * 4);
      });
      seen.putImageData(pixels, 0, 0);
    }
  }

  async function classify(body, headers) {
    const mine = ++sent;
    message.textContent = "";
    try {
      const response = await fetch(ENDPOINT, { method: "POST", body, headers });
      const answer = await response.json();
      if (mine !== sent) return;
      if (response.ok) {
        show(answer);
      } else {
        show(null);
        message.textContent = answer.message || `The server answered ${response.status}.`;
      }
    } catch (error) {
      if (mine === sent) message.textContent = `No answer from the server: ${error.message}`;
    }
  }

  function sendPad() {
    pad.toBlob((png) => classify(png, { "Content-Type": "image/png" }), "image/png");
  }

  function sendFile(file) {
    const form = new FormData();
    form.append("image", file, file.name);
    classify(form, {});
    createImageBitmap(file).then((picture) => {
      // Show the picture on the pad, fitted; a stroke drawn on it then sends the pad.
      blank();
      const scale = Math.min(pad.width / picture.width, pad.height / picture.height);
      const w = picture.width * scale;
      const h = picture.height * scale;
      pen.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    }, () => {}); // a file the browser cannot show is still sent; the server says what it is
  }

  function at(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width),
            (event.clientY - box.top) * (pad.height / box.height)];
  }

  function strokeTo(point) {
    pen.beginPath();
    pen.moveTo(...last);
    pen.lineTo(...point);
    pen.stroke();
    last = point;
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    pen.lineWidth = pad.width / 14;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.strokeStyle = "#000";
    last = at(event);
    strokeTo(last);
  });
  pad.addEventListener("pointermove", (event) => {
    if (last !== null) strokeTo(at(event));
  });
  for (const end of ["pointerup", "pointercancel"]) {
    pad.addEventListener(end, () => {
      if (last === null) return;
      last = null;
      sendPad(); // each stroke's end updates the answer
    });
  }

  document.getElementById("clear").addEventListener("click", () => {
    sent += 1; // an answer still on its way is for the old drawing
    blank();
    show(null);
    message.textContent = "";
  });
  document.getElementById("file").addEventListener("change", (event) => {
    if (event.target.files.length) sendFile(event.target.files[0]);
    event.target.value = "";
  });
  // Drop a file on the pad; a file dropped elsewhere must not make the browser leave the page.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => event.preventDefault());
  }
  pad.addEventListener("dragenter", () => pad.classList.add("drop"));
  pad.addEventListener("dragleave", () => pad.classList.remove("drop"));
  pad.addEventListener("drop", (event) => {
    pad.classList.remove("drop");
    if (event.dataTransfer.files.length) sendFile(event.dataTransfer.files[0]);
  });

  blank();
  show(null);
})();
