// The dashboard's only script: it fetches server-rendered fragments, swaps them in once a
// second, and posts actions to the control API. Nothing here builds HTML from data.
(() => {
  "use strict";
  const $ = (selector) => document.querySelector(selector);
  const params = new URLSearchParams(location.search);
  const view = {
    org: params.get("org") || "",
    status: params.get("status") || "",
    stream: params.get("stream") || "",
    file: params.get("file") || "",
  };
  let key = sessionStorage.getItem("u21-mock-key") || "";
  let token = sessionStorage.getItem("u21-mock-token") || "";
  const shown = new Map();

  function headers(extra) {
    const all = Object.assign({}, extra);
    if (token) all["x-u21-mock-token"] = token;
    if (key) all["u21-key"] = key;
    return all;
  }

  async function call(method, path, options = {}) {
    const response = await fetch(path, {
      method,
      headers: headers(options.headers),
      body: options.body,
      cache: "no-store",
    });
    if (response.status === 401) {
      $("#token-panel").hidden = false;
      throw new Error("the control token is missing or wrong");
    }
    return response;
  }

  // Swaps a fragment in only when it changed, so a select or a hover is not reset each second.
  function show(selector, html) {
    if (shown.get(selector) === html) return;
    shown.set(selector, html);
    $(selector).innerHTML = html;
  }

  function notify(message, isError) {
    const notice = $("#notice");
    notice.textContent = message;
    notice.className = isError ? "error" : "ok";
    notice.hidden = false;
    clearTimeout(notify.timer);
    notify.timer = setTimeout(() => (notice.hidden = true), 6000);
  }

  function remember() {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(view)) if (value) query.set(name, value);
    const search = query.toString();
    history.replaceState(null, "", search ? "?" + search : location.pathname);
  }

  function syncStreams(streams) {
    const filter = $("#stream-filter");
    const wanted = ["", ...streams].join("\n");
    if (filter.dataset.streams !== wanted) {
      filter.dataset.streams = wanted;
      filter.replaceChildren(new Option("All", ""));
      const names = $("#stream-names");
      names.replaceChildren();
      for (const name of streams) {
        filter.add(new Option(name, name));
        names.append(new Option(name));
      }
    }
    filter.value = view.stream;
    if (filter.value !== view.stream) filter.add(new Option(view.stream, view.stream, true, true));
  }

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const query = new URLSearchParams({ org: view.org, status: view.status, stream: view.stream });
      const [imports, clock, journal] = await Promise.all([
        call("GET", "/_mock/dashboard/imports?" + query),
        call("GET", "/_mock/dashboard/clock"),
        call("GET", "/_mock/dashboard/journal"),
      ]);
      show("#imports", await imports.text());
      show("#clock", await clock.text());
      show("#journal", await journal.text());
      const root = $("#imports-root");
      if (root) {
        if (key && root.dataset.org !== view.org) {
          view.org = root.dataset.org;
          $("#org").value = view.org;
        }
        syncStreams(JSON.parse(root.dataset.streams || "[]"));
      }
      $("#status-filter").value = view.status;
      if (view.file) {
        const detail = await call("GET", "/_mock/dashboard/files/" + encodeURIComponent(view.file));
        show("#detail", await detail.text());
        $("#detail-card").hidden = false;
      } else {
        $("#detail-card").hidden = true;
      }
      document.body.dataset.ready = "true";
    } catch (error) {
      notify("The fake did not answer: " + error.message, true);
    } finally {
      refreshing = false;
    }
  }

  async function act(method, path, body, done) {
    try {
      const response = await call(method, path, {
        headers: body ? { "content-type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) notify(done(answer), false);
      else notify(answer.message || "Refused: HTTP " + response.status, true);
    } catch (error) {
      notify(error.message, true);
    }
    await refresh();
  }

  async function loadOrgs() {
    const response = await call("GET", "/_mock/dashboard/orgs");
    const select = $("#org");
    select.innerHTML = await response.text();
    if (view.org) select.value = view.org;
    view.org = select.value;
  }

  $("#org").addEventListener("change", (event) => {
    view.org = event.target.value;
    key = "";
    $("#key").value = "";
    sessionStorage.removeItem("u21-mock-key");
    view.file = "";
    view.stream = "";
    remember();
    refresh();
  });
  $("#key").addEventListener("change", (event) => {
    key = event.target.value.trim();
    if (key) sessionStorage.setItem("u21-mock-key", key);
    else sessionStorage.removeItem("u21-mock-key");
    view.file = "";
    refresh();
  });
  $("#status-filter").addEventListener("change", (event) => {
    view.status = event.target.value;
    remember();
    refresh();
  });
  $("#stream-filter").addEventListener("change", (event) => {
    view.stream = event.target.value;
    remember();
    refresh();
  });
  $("#detail-close").addEventListener("click", () => {
    view.file = "";
    remember();
    refresh();
  });
  $("#token-save").addEventListener("click", () => {
    token = $("#token").value.trim();
    sessionStorage.setItem("u21-mock-token", token);
    $("#token-panel").hidden = true;
    start();
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-status-filter], [data-open], [data-action], [data-advance]");
    if (!target) return;
    event.preventDefault();
    if (target.dataset.statusFilter !== undefined) {
      view.status = target.dataset.statusFilter;
      remember();
      refresh();
    } else if (target.dataset.open) {
      view.file = target.dataset.open;
      remember();
      refresh();
    } else if (target.dataset.action === "process") {
      act("POST", `/_mock/files/${target.dataset.id}/process`, null, (f) => `File ${f.file_id} is ${f.status}.`);
    } else if (target.dataset.action === "delete") {
      act("POST", `/_mock/files/${target.dataset.id}/transition`, { status: "DELETED" }, (f) => `File ${f.file_id} is DELETED.`);
    } else if (target.dataset.advance) {
      const seconds = Number(target.dataset.advance);
      act("POST", "/_mock/clock/advance", { seconds }, () => `Clock moved on ${seconds} s.`);
    }
  });

  $("#upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const button = $("#upload-submit");
    button.disabled = true;
    try {
      const response = await call("POST", "/_mock/dashboard/upload?" + new URLSearchParams({ org: view.org }), {
        body: new FormData(form),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201) {
        notify(`Uploaded ${answer.file_name} as file ${answer.file_id} (ADDED).`, false);
        $("#upload-file").value = "";
        view.file = answer.file_id;
        remember();
      } else {
        notify(answer.message || "Upload refused: HTTP " + response.status, true);
      }
    } catch (error) {
      notify(error.message, true);
    } finally {
      button.disabled = false;
    }
    refresh();
  });

  async function start() {
    try {
      await loadOrgs();
      if (key) $("#key").value = key;
      await refresh();
    } catch (error) {
      notify(error.message, true);
    }
  }

  start();
  setInterval(refresh, 1000);
})();
