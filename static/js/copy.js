// Copy buttons on pages that have nothing else to script (the artifact viewer).
import { installCopyButtons } from "./dom.js";

installCopyButtons();
