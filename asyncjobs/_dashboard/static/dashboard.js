// asyncjobs dashboard: brings new and changed jobs into the page without a reload.
// Every value is set with textContent (never as markup), so whatever a provider answered stays text.
"use strict";

const EVERY_MS = 2000;
const FIELDS = ["status", "raw_status", "duration", "cost", "error", "updated"];

function setFields(container, row) {
  for (const field of FIELDS) {
    const cell = container.querySelector('[data-field="' + field + '"]');
    if (cell && row[field] !== undefined && cell.textContent !== String(row[field])) {
      cell.textContent = row[field];
    }
  }
  if (row.status) {
    container.className = container.className.replace(/status-\w+/g, "").trim();
    container.classList.add("status-" + row.status);
  }
}

function cell(text, field) {
  const td = document.createElement("td");
  td.textContent = text;
  if (field) {
    td.dataset.field = field;
  }
  return td;
}

function newRow(row) {
  const tr = document.createElement("tr");
  tr.dataset.key = row.key;
  tr.classList.add("status-" + row.status, "new");
  tr.appendChild(cell(row.provider));
  const idCell = document.createElement("td");
  if (row.job_id) {
    const link = document.createElement("a");
    link.href = "/jobs/" + encodeURIComponent(row.provider) + "/" + encodeURIComponent(row.job_id);
    link.textContent = row.job_id;
    idCell.appendChild(link);
  } else {
    idCell.textContent = row.state;
  }
  tr.appendChild(idCell);
  tr.appendChild(cell(row.kind));
  const status = cell(row.status, "status");
  status.classList.add("status");
  tr.appendChild(status);
  tr.appendChild(cell(row.raw_status, "raw_status"));
  tr.appendChild(cell(row.created));
  tr.appendChild(cell(row.duration, "duration"));
  tr.appendChild(cell(row.cost, "cost"));
  const error = cell(row.error, "error");
  error.classList.add("error");
  tr.appendChild(error);
  return tr;
}

async function refreshJobs(table) {
  const rows = Array.from(table.querySelectorAll("tbody tr[data-key]"));
  const query = new URLSearchParams(table.dataset.query || "");
  query.set("keys", rows.map((r) => r.dataset.key).join(","));
  query.set("after", table.dataset.after || "0");
  const answer = await fetch("/api/changes?" + query.toString(), { credentials: "same-origin" });
  if (!answer.ok) {
    return;
  }
  const data = await answer.json();
  const byKey = new Map(rows.map((r) => [r.dataset.key, r]));
  for (const row of data.rows) {
    const tr = byKey.get(row.key);
    if (tr) {
      setFields(tr, row);
    }
  }
  const body = table.querySelector("tbody");
  const empty = body.querySelector("tr.empty");
  const fresh = table.dataset.sort === "oldest" ? [] : data["new"].slice().reverse();
  for (const row of fresh) {
    if (!byKey.has(row.key)) {
      if (empty) {
        empty.remove();
      }
      body.insertBefore(newRow(row), body.firstChild);
    }
  }
  if (data.newest) {
    table.dataset.after = String(data.newest);
  }
}

async function refreshJob(dl) {
  const answer = await fetch(dl.dataset.api, { credentials: "same-origin" });
  if (!answer.ok) {
    return;
  }
  setFields(dl, await answer.json());
}

function every(fn, element) {
  const tick = () => fn(element).catch(() => undefined).finally(() => setTimeout(tick, EVERY_MS));
  setTimeout(tick, EVERY_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("jobs");
  if (table) {
    every(refreshJobs, table);
  }
  const job = document.getElementById("job");
  if (job) {
    every(refreshJob, job);
  }
});
