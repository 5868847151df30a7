// Evaluated in the page after its load event by Browser.Check; returns a
// Report (page.go). Kept free of page-specific names: it checks any page.
(() => {
  const root = document.documentElement;
  const W = root.clientWidth;
  const r = {innerWidth: window.innerWidth, clientWidth: W, scrollWidth: root.scrollWidth, images: [], overflow: []};
  for (const img of document.images) {
    r.images.push({kind: 'img', src: img.getAttribute('src') || '', loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth});
  }
  for (const o of document.querySelectorAll('object')) {
    const d = o.contentDocument, b = o.getBoundingClientRect();
    r.images.push({kind: 'object', src: o.getAttribute('data') || '', loaded: !!(d && d.documentElement) && b.width > 0, width: Math.round(b.width)});
  }
  for (const s of document.querySelectorAll('svg')) {
    if (s.ownerSVGElement) continue; // nested in another svg
    const b = s.getBoundingClientRect();
    r.images.push({kind: 'svg', src: s.id ? '#' + s.id : 'inline svg', loaded: b.width > 0 && b.height > 0 && s.childElementCount > 0, width: Math.round(b.width)});
  }
  // The heading an element sits under (the last one before it in document
  // order), to say where on the page it is.
  const heading = el => {
    for (let n = el; n && n !== document.body; n = n.parentElement) {
      for (let s = n.previousElementSibling; s; s = s.previousElementSibling) {
        if (/^H[1-6]$/.test(s.tagName)) return s;
        const inner = s.querySelectorAll('h1,h2,h3,h4,h5,h6');
        if (inner.length) return inner[inner.length - 1];
      }
    }
    return null;
  };
  const describe = el => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    if (typeof el.className === 'string' && el.className.trim()) d += '.' + el.className.trim().split(/\s+/).join('.');
    const src = el.getAttribute('src');
    const t = src ? src : (el.textContent || '').replace(/\s+/g, ' ').trim();
    if (t) d += ' "' + (t.length > 60 ? t.slice(0, 60) + '…' : t) + '"';
    const h = heading(el);
    if (h) d += ' under ' + h.tagName.toLowerCase() + ' "' + h.textContent.replace(/\s+/g, ' ').trim().slice(0, 160) + '"';
    return d;
  };
  // An element inside a box that clips or scrolls sideways cannot widen
  // the page as long as that box fits.
  const clipped = el => {
    for (let a = el.parentElement; a && a !== root; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a.getBoundingClientRect().right + scrollX <= W + 0.5;
    }
    return false;
  };
  const past = el => el.getBoundingClientRect().right + scrollX > W + 0.5;
  for (const el of [document.body, ...document.body.querySelectorAll('*')]) {
    if (clipped(el)) continue;
    const b = el.getBoundingClientRect();
    const p = el.parentElement;
    if (past(el)) {
      // Only where containment breaks: a parent that passes the edge too
      // is reported instead (the table, not each of its cells).
      if (p && p !== root && past(p)) continue;
      r.overflow.push({element: describe(el), right: Math.round(b.right + scrollX), width: Math.round(b.width), content: false});
    } else if (getComputedStyle(el).overflowX === 'visible' && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 &&
               b.left + scrollX + el.scrollWidth > W + 0.5 && ![...el.querySelectorAll('*')].some(past)) {
      // Its own content (long text), not an element reported above.
      r.overflow.push({element: describe(el), right: Math.round(b.left + scrollX + el.scrollWidth), width: el.scrollWidth, content: true});
    }
  }
  return r;
})()
