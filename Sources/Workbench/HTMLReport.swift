import Foundation
import Kernels

/// A self-contained HTML page: inline CSS and SVG, no scripts, nothing
/// fetched. Well-formed XHTML, so tests can parse it as XML.
public struct HTMLReport: Sendable {
  public var title: String
  var body = ""

  public init(title: String) { self.title = title }

  public mutating func heading(_ text: String) { body += "<h2>\(escape(text))</h2>\n" }
  public mutating func paragraph(_ text: String) { body += "<p>\(escape(text))</p>\n" }
  /// Trusted markup made by this module (charts, tables).
  public mutating func raw(_ markup: String) { body += markup + "\n" }
  public mutating func chart(_ chart: SVGChart) { body += "<figure>" + chart.render() + "</figure>\n" }

  public mutating func table(header: [String], rows: [[String]]) {
    var html = "<table>\n<thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    for row in rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
    body += html + "</tbody>\n</table>\n"
  }

  public func render() -> String {
    """
    <!DOCTYPE html>
    <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
    <head>
    <meta charset="utf-8"/>
    <title>\(escape(title))</title>
    <style>
    body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
    h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
    table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
    th, td { border: 1px solid #ccc; padding: 4px 9px; text-align: right; }
    th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
    figure { margin: 1em 0; } p { line-height: 1.45; }
    .note { color: #555; font-size: 0.9em; }
    pre { white-space: pre-wrap; background: #f7f7f7; padding: 8px; font-size: 0.88em; }
    </style>
    </head>
    <body>
    <h1>\(escape(title))</h1>
    \(body)</body>
    </html>

    """
  }

  /// Writes the page atomically.
  public func write(to path: String) throws(AtomicFile.WriteError) {
    try AtomicFile.write(Data(render().utf8), to: path)
  }
}
