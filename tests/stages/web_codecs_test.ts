import { webCodecs } from "../../src/stages/web_codecs.ts";
import { defineCodecTests } from "../runtime/parallel_codec_suite.ts";

defineCodecTests("webCodecs", webCodecs);
