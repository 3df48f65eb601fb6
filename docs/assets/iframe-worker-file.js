// Search from the file system. The theme's search runs in a Web Worker, and Chromium refuses
// `new Worker(url)` on a file:// page. There, and only there, this replaces Worker by a small
// stand-in that loads the worker's script into a hidden iframe (same document origin) and
// passes messages both ways, as the Worker interface does. Over http(s) nothing changes.
// The iframe runs on the page's own thread, and building the search index there takes a few
// tenths of a second: so it is built when the reader first goes to the search box (a click, a
// tap or the keyboard shortcut all focus it), not on every page that opens.
(function () {
  if (location.protocol !== "file:") return;
  const SEARCH_BOX = "[data-md-component=search-query], .md-search__input";

  class FrameWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.url = new URL(url, location.href).href;
      this.pending = [];  // messages posted before the worker's script has loaded
      this.started = false;
      const start = (event) => {
        if (event.target instanceof Element && event.target.matches(SEARCH_BOX)) {
          document.removeEventListener("focusin", start, true);
          this.start();
        }
      };
      document.addEventListener("focusin", start, true);
    }

    start() {
      if (this.started) return;
      this.started = true;
      this.frame = document.createElement("iframe");
      this.frame.hidden = true;
      document.documentElement.appendChild(this.frame);
      const scope = this.frame.contentWindow;
      // the worker answers with a one-argument postMessage(data): deliver it to the page
      scope.postMessage = (data) => setTimeout(() => this.deliver(data));
      const script = scope.document.createElement("script");
      script.src = this.url;
      script.onload = () => {
        this.scope = scope;
        this.pending.splice(0).forEach((data) => this.postMessage(data));
      };
      scope.document.head.appendChild(script);
    }

    deliver(data) {
      const event = new MessageEvent("message", { data });
      if (typeof this.onmessage === "function") this.onmessage(event);
      this.dispatchEvent(event);
    }

    postMessage(data) {
      if (!this.scope) {
        this.pending.push(data);
        return;
      }
      const scope = this.scope;
      setTimeout(() => scope.dispatchEvent(new scope.MessageEvent("message", { data })));
    }

    terminate() {
      if (this.frame) this.frame.remove();
    }
  }

  window.Worker = FrameWorker;
})();
