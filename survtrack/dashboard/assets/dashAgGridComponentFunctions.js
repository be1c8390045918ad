// Cell renderers for the contracts grid. Links are built as React elements (never HTML
// strings), and only http(s) URLs, app paths and 64-hex document ids become links.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.ExternalLink = function (props) {
  var url = props.value;
  if (!url || !/^https?:\/\//i.test(url)) return null;
  return React.createElement(
    "a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "source-link" },
    props.label || url);
};

dagcomponentfuncs.DocumentLink = function (props) {
  var id = props.value;
  if (!id || !/^[0-9a-f]{64}$/.test(id)) return null;
  return React.createElement(
    "a", { href: "/document/" + id, className: "document-link" },
    props.label || id.slice(0, 12));
};

dagcomponentfuncs.AppLink = function (props) {
  var data = props.data || {};
  var target = data[props.hrefField];
  if (!target || target.charAt(0) !== "/" || target.charAt(1) === "/") return props.value || "";
  return React.createElement("a", { href: target, className: "app-link" }, props.value || "");
};
