// The page: send one image to the chosen model, show the text and each character's confidence.
// The models come from /v1/models; the picker shows only when there are several.
"use strict";

const drop = document.getElementById("drop");
const fileInput = document.getElementById("file");
const preview = document.getElementById("preview");
const result = document.getElementById("result");
const errorBox = document.getElementById("error");
const picker = document.getElementById("picker");
const modelSelect = document.getElementById("model-select");
const models = new Map(); // name -> what /v1/models says of it
let lastFile = null;

function percent(value) {
  return (100 * value).toFixed(1) + "%";
}

// Confidence from red (0) to green (1), so a doubtful character stands out.
function colour(value) {
  return "hsl(" + Math.round(120 * value) + ", 65%, 38%)";
}

function showReading(reading) {
  document.getElementById("text").textContent = reading.text || "(nothing read)";
  document.getElementById("confidence").textContent = percent(reading.confidence);
  const chars = document.getElementById("chars");
  chars.replaceChildren();
  Array.from(reading.text).forEach((character, i) => {
    const confidence = reading.char_confidences[i];
    const box = document.createElement("span");
    box.className = "char";
    box.style.background = colour(confidence);
    box.title = character + ": " + percent(confidence);
    const glyph = document.createElement("b");
    glyph.textContent = character;
    const value = document.createElement("small");
    value.textContent = percent(confidence);
    box.append(glyph, value);
    chars.append(box);
  });
  result.hidden = false;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  result.hidden = true;
}

// The chosen model's route; the default model's before /v1/models has answered.
function recognizeUrl() {
  const name = modelSelect.value;
  return name ? "/v1/models/" + encodeURIComponent(name) + "/recognize" : "/v1/recognize";
}

async function recognize(file) {
  if (!file) return;
  lastFile = file;
  errorBox.hidden = true;
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const form = new FormData();
  form.append("file", file, file.name || "pasted.png");
  try {
    const response = await fetch(recognizeUrl(), { method: "POST", body: form });
    const body = await response.json();
    if (!response.ok) {
      showError("Could not read it: " + (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)));
      return;
    }
    showReading(body);
  } catch (error) {
    showError("The service did not answer: " + error);
  }
}

fileInput.addEventListener("change", () => recognize(fileInput.files[0]));
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") fileInput.click();
});
["dragenter", "dragover"].forEach((name) =>
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  })
);
["dragleave", "drop"].forEach((name) =>
  drop.addEventListener(name, () => drop.classList.remove("over"))
);
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  recognize(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = Array.from(event.clipboardData.items).find((i) => i.type.startsWith("image/"));
  if (item) recognize(item.getAsFile());
});

function describe(info) {
  document.getElementById("model").textContent = info
    ? "Model: " + info.model + " (" + info.architecture + ", " + info.input_width + "×" +
      info.input_height + ", reads " + info.charset.length + " characters; ctcocr " +
      info.ctcocr_version + ")"
    : "";
}

// One option per model; a name whose file was refused shows why, and cannot be picked.
function showModels(list) {
  modelSelect.replaceChildren();
  models.clear();
  list.models.forEach((entry) => {
    const option = document.createElement("option");
    option.value = entry.name;
    option.textContent = entry.info ? entry.name : entry.name + " (not loaded)";
    option.disabled = !entry.info;
    if (entry.error) option.title = entry.error;
    modelSelect.append(option);
    if (entry.info) models.set(entry.name, entry.info);
  });
  const first = models.has(list.default) ? list.default : models.keys().next().value;
  if (first !== undefined) modelSelect.value = first;
  picker.hidden = list.models.length < 2;
  describe(models.get(modelSelect.value));
}

modelSelect.addEventListener("change", () => {
  describe(models.get(modelSelect.value));
  if (lastFile) recognize(lastFile);
});

fetch("/v1/models")
  .then((response) => response.json())
  .then(showModels)
  .catch(() => {});
