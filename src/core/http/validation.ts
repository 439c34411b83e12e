import { applyDecorators, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiBadRequestResponse, ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, ValidateBy, type ValidationOptions } from 'class-validator';
import { StandardErrorDto } from './error.dto';
import { FieldError, ValidationFailedException } from './errors';
import { EXTERNAL_ID_PATTERN, type IdPrefix, prefixedIdPattern } from './ids';

/** The constraint `IsPresent` registers; its message replaces "<field> is required" for a missing value. */
const PRESENCE_CONSTRAINT = 'isPresent';

/**
 * A value is required, and a missing one (undefined or null) is answered with `message` instead
 * of the generic "<field> is required": for a rule a client needs spelled out, such as "one of
 * two fields" or "required with another field". `$path` in the message becomes the field's full
 * path (`actions[0].url`).
 */
export function IsPresent(message: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: PRESENCE_CONSTRAINT,
      validator: { validate: (value: unknown) => value !== undefined && value !== null, defaultMessage: () => message },
    },
    options,
  );
}

/**
 * `@IsString() @Matches(pattern)` as one decorator. Stacked decorators register bottom-up and
 * `applyDecorators` in list order; the constraints keep registration order, and so do the details
 * of a 400 (a number gets the pattern's message, then "must be a string"), so `Matches` goes first.
 */
function IsStringMatching(pattern: RegExp, options: ValidationOptions): PropertyDecorator {
  const { message: _message, ...stringOptions } = options;
  return applyDecorators(Matches(pattern, options), IsString(stringOptions));
}

const anId = (prefix: IdPrefix) => `${/^[aeiou]/.test(prefix) ? 'an' : 'a'} ${prefix}_ id`;

/**
 * An id Herald issued with `prefix` (`chan_…`, `notif_…`): the shape `newId` writes. The default
 * message is "<field> must be a chan_ id"; `options.message` replaces it. Also documents the
 * pattern and an example in Swagger; an `@ApiProperty` written above it (description, its own
 * example, `required: false`) is applied after it and wins.
 */
export function IsPrefixedId(prefix: IdPrefix, options: ValidationOptions = {}): PropertyDecorator {
  const validation = IsStringMatching(prefixedIdPattern(prefix), {
    message: `$property must be ${anId(prefix)}`,
    ...options,
  });
  // Swagger's pattern describes the property itself, which is an array when `each` is set.
  if (options.each) return validation;
  return applyDecorators(
    ApiProperty({ pattern: prefixedIdPattern(prefix).source, example: `${prefix}_01jd3m7k2q8w6t5v4x3y2z1a0b` }),
    validation,
  );
}

/**
 * The 400 a path parameter checked by `@IsPrefixedId(prefix)` (without its own message) gets, as
 * Swagger shows it: the standard envelope with the detail the pipe writes. `description` replaces
 * the default where the operation has other 400s too (an invalid body).
 */
export function ApiMalformedIdResponse(
  field: string,
  prefix: IdPrefix,
  description = `\`${field}\` is not ${anId(prefix)}.`,
): MethodDecorator & ClassDecorator {
  const details = [{ field, message: `${field} must be ${anId(prefix)}` }];
  return ApiBadRequestResponse({
    type: StandardErrorDto,
    description,
    example: { statusCode: 400, error: 'Bad Request', message: validationFailedMessage(details), details },
  });
}

/**
 * An id from the customer's systems (organisation, user, claim, workspace, a producer's event id):
 * 1-128 letters, digits and `._:-`, with the message "<field> must be 1-128 characters of letters,
 * digits and ._:-" unless `options.message` says otherwise. Validation only: the fields document
 * their own examples.
 */
export function IsExternalId(options: ValidationOptions = {}): PropertyDecorator {
  return IsStringMatching(EXTERNAL_ID_PATTERN, {
    message: '$property must be 1-128 characters of letters, digits and ._:-',
    ...options,
  });
}

/**
 * A property that is absent (or null: a property that allows null is `@IsOptional()` or skipped by
 * its `@ValidateIf`, so null reaching a failed constraint means it is not allowed) while some
 * constraint still applied to it. Its other messages ("must be a string", "must contain at least
 * 1 elements", ...) all restate that it is missing, so it gets one detail saying so.
 *
 * The pipe deletes `value` from errors that have children, so only an error that still carries
 * the key is judged; array items (numeric properties) keep their own messages, and an unknown
 * field sent as null is still an unknown field.
 */
function isMissing(error: ValidationError): boolean {
  if (!error.constraints || Object.keys(error.constraints).length === 0) return false;
  if ('whitelistValidation' in error.constraints) return false;
  if (/^\d+$/.test(error.property) || error.children?.length) return false;
  return 'value' in error && (error.value === undefined || error.value === null);
}

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent
      ? /^\d+$/.test(error.property)
        ? `${parent}[${error.property}]`
        : `${parent}.${error.property}`
      : error.property;
    if (isMissing(error)) {
      out.push({
        field,
        message: (error.constraints![PRESENCE_CONSTRAINT] ?? '$path is required').replaceAll('$path', field),
      });
      continue;
    }
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({
        field,
        message: message.replace(/^property (\S+) should not exist$/, 'unknown field $1 is not allowed'),
      });
    }
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

function validationFailedMessage(details: FieldError[]): string {
  const summary =
    details.length === 1 ? `${details[0].field}: ${details[0].message}` : `${details.length} fields are invalid`;
  return `Validation failed: ${summary}`;
}

/**
 * The one global pipe: whitelisted DTOs, unknown fields rejected, field-level details in the 400.
 * A missing required field gets exactly one detail, "<path> is required" (nested ones by path,
 * `rules[0].trigger is required`); a present but invalid value keeps its specific messages.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      return new ValidationFailedException(details, validationFailedMessage(details));
    },
  });
}
