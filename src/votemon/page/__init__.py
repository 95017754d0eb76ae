"""The live results page: index.html, app.css, app.js and favicon.svg, served by votemon.results."""
