// Building the document from scripts: elements made with their attributes
// and children (text or nodes), never from markup.

/** A new `tag` element with `attrs` set and `children` (strings become text) appended. */
export function element(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
