// Tables a reader can work with, in plain JS (no library, no network):
// - table.sortable: click a header to sort (again to reverse). Cells may carry data-sort;
//   data-type="num" columns compare numbers, text compares naturally (M=4 < M=12), empty
//   values go last either way. A table of several <tbody class="group"> sorts the groups by
//   their first row, so an algorithm's build rows stay under it.
// - table.filterable: a bar above it with a select per <th data-filter> column (its distinct
//   values), a text box matching any cell, and pages of data-page-size rows.
// - button.builds-toggle: shows or hides the build rows of its group.
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function key(cell) {
    if (!cell) { return ""; }
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }

  function compare(numeric, a, b) {
    if (numeric) { return parseFloat(a) - parseFloat(b); }
    return collator.compare(a, b);
  }

  function units(table) {
    var groups = table.querySelectorAll(":scope > tbody.group");
    if (groups.length) {
      return { parent: table, items: Array.prototype.slice.call(groups), first: function (g) { return g.rows[0]; } };
    }
    var body = table.tBodies[0];
    return { parent: body, items: Array.prototype.slice.call(body.rows), first: function (r) { return r; } };
  }

  function sortBy(table, column, header) {
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var set = units(table);
    set.items.sort(function (x, y) {
      var a = key(set.first(x).cells[column]), b = key(set.first(y).cells[column]);
      if (a === "" || b === "") { return a === b ? 0 : (a === "" ? 1 : -1); }
      var order = compare(numeric, a, b);
      return ascending ? order : -order;
    });
    set.items.forEach(function (item) { set.parent.appendChild(item); });
    Array.prototype.forEach.call(header.parentNode.cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    table.dispatchEvent(new CustomEvent("table-sorted"));
  }

  function makeSortable(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (header, column) {
      header.tabIndex = 0;
      header.addEventListener("click", function () { sortBy(table, column, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, column, header);
        }
      });
    });
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function makeFilterable(table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var size = parseInt(table.getAttribute("data-page-size") || "50", 10);
    var page = 0;
    var bar = element("div", { "class": "table-tools" });
    var filters = [];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      if (!th.hasAttribute("data-filter")) { return; }
      var values = {};
      rows.forEach(function (row) { values[row.cells[column].textContent.trim()] = true; });
      var names = Object.keys(values).sort(collator.compare);
      var label = element("label", {}, th.textContent.trim() + " ");
      var select = element("select", { "data-column": String(column), "aria-label": "filter by " + th.textContent.trim() });
      select.appendChild(element("option", { value: "" }, "all"));
      names.forEach(function (name) { select.appendChild(element("option", { value: name }, name === "" ? "(none)" : name)); });
      select.addEventListener("change", function () { page = 0; update(); });
      label.appendChild(select);
      bar.appendChild(label);
      filters.push(select);
    });
    var search = element("input", { type: "search", placeholder: "search rows", "aria-label": "search rows" });
    search.addEventListener("input", function () { page = 0; update(); });
    bar.appendChild(search);
    var pager = element("span", { "class": "pager" });
    var previous = element("button", { type: "button", "class": "previous" }, "\u2039 previous");
    var next = element("button", { type: "button", "class": "next" }, "next \u203a");
    var status = element("span", { "class": "page-status" });
    previous.addEventListener("click", function () { page -= 1; update(); });
    next.addEventListener("click", function () { page += 1; update(); });
    pager.appendChild(previous);
    pager.appendChild(status);
    pager.appendChild(next);
    bar.appendChild(pager);
    table.parentNode.insertBefore(bar, table);

    function matches(row) {
      var text = search.value.trim().toLowerCase();
      for (var i = 0; i < filters.length; i += 1) {
        var wanted = filters[i].value;
        var column = parseInt(filters[i].getAttribute("data-column"), 10);
        if (filters[i].selectedIndex > 0 && row.cells[column].textContent.trim() !== wanted) { return false; }
      }
      return !text || row.textContent.toLowerCase().indexOf(text) >= 0;
    }

    function update() {
      var ordered = Array.prototype.slice.call(body.rows);
      var shown = ordered.filter(matches);
      var pages = Math.max(1, Math.ceil(shown.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      var first = page * size, last = first + size;
      ordered.forEach(function (row) { row.hidden = true; });
      shown.forEach(function (row, i) { row.hidden = i < first || i >= last; });
      status.textContent = shown.length
        ? " rows " + (first + 1) + "\u2013" + Math.min(last, shown.length) + " of " + shown.length +
          (shown.length < rows.length ? " (filtered from " + rows.length + ")" : "") +
          ", page " + (page + 1) + " of " + pages + " "
        : " no rows match ";
      previous.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    table.addEventListener("table-sorted", update);
    update();
  }

  function makeToggle(button) {
    button.addEventListener("click", function () {
      var group = button.closest("tbody");
      var open = button.getAttribute("aria-expanded") !== "true";
      group.querySelectorAll("tr.build").forEach(function (row) { row.hidden = !open; });
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.textContent = (open ? "hide " : "show ") + button.getAttribute("data-builds") + " builds";
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("table.filterable").forEach(makeFilterable);
  document.querySelectorAll("button.builds-toggle").forEach(makeToggle);
}());
