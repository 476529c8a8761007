// Asks the model served at ./invocations (same origin, proxied by nginx) about one passenger,
// then about the same passenger at every age and in every class, in one batched request.
"use strict";

const FIELDS = ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Embarked", "Name"];
const LABELS = {
  Pclass: "Ticket class", Sex: "Sex", Age: "Age", SibSp: "Siblings or spouses",
  Parch: "Parents or children", Fare: "Fare", Embarked: "Port", Name: "Name",
};
const AGES = Array.from({ length: 41 }, (_, i) => i * 2); // 0, 2, … 80
const CLASSES = [1, 2, 3];

const form = document.getElementById("passenger-form");
const notice = document.getElementById("service-notice");

function numberOrNull(text) {
  const trimmed = text.trim();
  return trimmed === "" ? null : Number(trimmed);
}

// The model needs a name: without one, use a title that fits the sex and age, as the
// passenger list would have written it.
function defaultName(sex, age) {
  if (sex === "female") return age !== null && age < 18 ? "Doe, Miss. Jane" : "Doe, Mrs. Jane";
  return age !== null && age < 13 ? "Doe, Master. John" : "Doe, Mr. John";
}

function passengerFromForm() {
  const value = (id) => document.getElementById(id).value;
  const age = numberOrNull(value("Age"));
  return {
    Pclass: Number(value("Pclass")),
    Sex: value("Sex"),
    Age: age,
    SibSp: numberOrNull(value("SibSp")),
    Parch: numberOrNull(value("Parch")),
    Fare: numberOrNull(value("Fare")),
    Embarked: value("Embarked"),
    Name: value("Name").trim() || defaultName(value("Sex"), age),
    Ticket: "WEB-FORM",
  };
}

class ModelError extends Error {}
class ServiceDown extends Error {}

async function predict(records) {
  let response;
  try {
    response = await fetch("invocations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ dataframe_records: records }),
    });
  } catch (error) {
    throw new ServiceDown("The prediction service cannot be reached.");
  }
  if (response.status === 400) {
    const body = await response.json().catch(() => ({}));
    throw new ModelError(body.message || "The model refused this passenger.");
  }
  if ([502, 503, 504].includes(response.status)) {
    throw new ServiceDown("The prediction service is not available right now.");
  }
  if (!response.ok) {
    throw new ServiceDown(`The prediction service answered with an error (${response.status}).`);
  }
  return (await response.json()).predictions;
}

function clearErrors() {
  for (const field of FIELDS) {
    document.getElementById(`${field}-error`).textContent = "";
    document.getElementById(field).removeAttribute("aria-invalid");
  }
  notice.hidden = true;
}

// "row 0: field 'Age': 150 is not a number in [0, 120]" -> next to Age, in plain words.
function showModelError(message) {
  const match = /field '(\w+)': (.*)$/.exec(message);
  if (match && FIELDS.includes(match[1])) {
    const [, field, rule] = match;
    const plain = rule
      .replace(/^is required$/, "is needed")
      .replace(/ is not a number in \[(.+), (.+)\]/, " is not allowed: use a number from $1 to $2")
      .replace(/ is not an integer in \[(.+), (.+)\]/, " is not allowed: use a whole number from $1 to $2")
      .replace(/ is not an integer/, " is not allowed: use a whole number")
      .replace(/^must be a finite number$/, "must be a number");
    document.getElementById(`${field}-error`).textContent = `${LABELS[field]}: ${plain}`;
    document.getElementById(field).setAttribute("aria-invalid", "true");
    document.getElementById(field).focus();
  } else {
    showNotice(`The model could not answer: ${message}`);
  }
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

function reading(probability) {
  if (probability >= 0.75) return "Very likely to have survived.";
  if (probability >= 0.5) return "More likely than not to have survived.";
  if (probability >= 0.25) return "More likely than not to have died.";
  return "Very likely to have died.";
}

function showResult(probability) {
  const percent = Math.round(probability * 100);
  document.getElementById("probability").textContent = `${percent}%`;
  document.getElementById("bar-fill").style.width = `${percent}%`;
  document.getElementById("bar").setAttribute("aria-label", `survival probability ${percent}%`);
  document.getElementById("reading").textContent = reading(probability);
  document.getElementById("result").hidden = false;
}

function drawChart(passenger, predictions) {
  const svg = document.getElementById("chart");
  const [left, right, top, bottom] = [48, 620, 16, 260];
  const x = (age) => left + (age / 80) * (right - left);
  const y = (p) => bottom - p * (bottom - top);
  const parts = [];
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line class="grid" x1="${left}" x2="${right}" y1="${y(p)}" y2="${y(p)}"/>`);
    parts.push(`<text x="${left - 8}" y="${y(p) + 4}" text-anchor="end">${p * 100}%</text>`);
  }
  for (const age of [0, 20, 40, 60, 80]) {
    parts.push(`<text x="${x(age)}" y="${bottom + 20}" text-anchor="middle">${age}</text>`);
  }
  parts.push(`<text x="${(left + right) / 2}" y="${bottom + 38}" text-anchor="middle">age</text>`);
  CLASSES.forEach((pclass, c) => {
    const points = AGES.map((age, i) => {
      const probability = predictions[c * AGES.length + i].probability;
      return `${x(age).toFixed(1)},${y(probability).toFixed(1)}`;
    });
    parts.push(`<polyline class="line class-${pclass}" points="${points.join(" ")}"/>`);
  });
  if (passenger.Age !== null && passenger.Age >= 0 && passenger.Age <= 80) {
    parts.push(`<line class="marker" x1="${x(passenger.Age)}" x2="${x(passenger.Age)}" ` +
               `y1="${top}" y2="${bottom}"/>`);
  }
  svg.innerHTML = parts.join("");
  document.getElementById("what-if").hidden = false;
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  const passenger = passengerFromForm();
  const button = document.getElementById("predict");
  button.disabled = true;
  try {
    const [prediction] = await predict([passenger]);
    showResult(prediction.probability);
    const variants = CLASSES.flatMap((pclass) =>
      AGES.map((age) => ({
        ...passenger,
        Pclass: pclass,
        Age: age,
        Name: document.getElementById("Name").value.trim() || defaultName(passenger.Sex, age),
      })));
    drawChart(passenger, await predict(variants));
  } catch (error) {
    document.getElementById("result").hidden = true;
    document.getElementById("what-if").hidden = true;
    if (error instanceof ModelError) showModelError(error.message);
    else showNotice(`${error.message} Please try again in a moment.`);
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", onSubmit);
