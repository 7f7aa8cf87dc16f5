/**
 * Sampling options from a page's URL (or a form's fields), named as `charrnn sample`'s flags:
 * `?prime=Call%20me&temp=0.8&length=300&seed=7&top-k=5&top-p=0.9&stop=%0A%0A`, so that a link reproduces a
 * sample. Each value is converted by its row of SAMPLE_OPTIONS, as the CLI converts a flag's word, and
 * checked where the options are (SamplingModel.checkSampleOptions, naming them by `urlSettingName`).
 */
import { SAMPLE_OPTIONS, type SampleOptionName, type SampleOptions } from '../sample-options.js';
import { CharrnnError, EXIT } from '../errors.js';
import { closestName, type OptionNamer, settingsOf } from '../settings.js';

/** A sampling option by the name it has in a URL: its flag (`temp`, `top-k`). */
export const urlSettingName: OptionNamer<SampleOptionName> = (option) => SAMPLE_OPTIONS[option].flag ?? option;

/**
 * The sampling options in `params`; a name that is neither a sampling flag nor one of `otherNames` (the
 * page's own settings) is an error naming the closest. An empty value counts as not given, as an empty
 * form field.
 */
export function sampleOptionsFromParams(params: URLSearchParams, otherNames: readonly string[] = []): SampleOptions {
  const rows = settingsOf(SAMPLE_OPTIONS);
  const known = [...rows.map(([option]) => urlSettingName(option)), ...otherNames];
  for (const name of params.keys()) {
    if (known.includes(name)) continue;
    const near = closestName(name, known);
    throw new CharrnnError(`${name} is not a setting${near ? ` (did you mean ${near}?)` : ''}`, EXIT.usage);
  }
  const options: Record<string, unknown> = {};
  for (const [option, row] of rows) {
    const text = params.get(urlSettingName(option));
    if (text) options[option] = row.kind.parse(text);
  }
  return options as SampleOptions;
}
