// A page opened as a sign-in pop-up by a IIIF viewer closes itself when done.
if (window.opener) { window.setTimeout(function () { window.close(); }, 300); }
